"""Participant input that no form expects: control characters, surrogates, markup and huge
texts in every journey form and query parameter give a clear 4xx (or an inline error),
never a 500, and never come back unescaped or echoed in bulk.

The explicit tests name each finding; the property-based tests (hypothesis) then walk a
participant through the journey with the test client and post generated text to every
form and parameter of each step. Each example runs in a savepoint that is rolled back, so
every one meets the participant on the same step.
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elicitation import selectors
from elicitation.models import (
    JudgmentAssignment,
    Message,
    Participant,
    SurveyAnswer,
    ValuesCard,
    WiserJudgment,
)
from moralgraph.models import Value
from tests.helpers import (
    BOOSTED,
    HTMX,
    XSS,
    card_data,
    fresh,
    make_study,
    say,
    seed_stories,
    seed_values,
    to_card,
    to_interview,
    to_judgments,
    to_selection,
    to_survey,
    url,
)

pytestmark = pytest.mark.django_db
Step = Participant.Step
NUL = "\x00"


@pytest.fixture(autouse=True)
def _fast_llm(fast_llm):
    """No waiting on the offline models."""


@pytest.fixture
def study():
    """An open study with values to select and stories to judge, one titled with markup."""
    study = make_study(completion_url="https://example.org/done", completion_code="C0DE")
    question = study.questions.get()
    values = seed_values(question, 3)
    Value.objects.filter(pk=values[0].pk).update(title=XSS, policies=[XSS, "B", "C"])
    seed_stories(study, values, question=question)
    return study


def body(response) -> str:
    return response.content.decode(errors="replace")


def assert_refused_clearly(response, *, status=400, never=()):
    assert response.status_code == status, body(response)[:500]
    html = body(response)
    for text in never:
        assert text not in html


# --- Query parameters: a 400 page, for a logged-out visitor too ---------------------------


@pytest.mark.parametrize("name", ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "pid"])
@pytest.mark.parametrize("char", [NUL, "\x1b", "\x7f", "\n"])
def test_a_control_character_in_the_recruitment_link_is_a_400(study, name, char):
    # A marker no random token on the page (CSRF, nonce) would hold by chance.
    response = Client().get(url(study), {name: f"zqxv{char}def"})
    assert_refused_clearly(response, never=["zqxv"])
    assert "control character" in body(response)
    assert f"“{name}”" in body(response)
    assert not Participant.objects.exists()


def test_a_nul_in_the_follow_up_link_is_a_400(study):
    response = Client().get(url(study, "follow-up"), {"PROLIFIC_PID": f"p{NUL}"})
    assert_refused_clearly(response)


def test_a_nul_in_a_parameter_name_is_a_400_that_does_not_name_it(study):
    response = Client().get(url(study) + "?PROLIFIC%00PID=x")
    assert_refused_clearly(response)
    assert "PROLIFIC" not in body(response)


def test_an_htmx_request_gets_the_refusal_over_the_step(study):
    response = Client().get(url(study), {"pid": NUL}, **BOOSTED)
    assert_refused_clearly(response)
    assert response["HX-Retarget"] == "#step"
    assert body(response).lstrip().startswith('<section id="step"')


def test_a_clean_recruitment_link_still_works(study):
    client = Client()
    response = client.get(url(study), {"PROLIFIC_PID": "abc-def", "STUDY_ID": "s 1"})
    assert response.status_code == 302


# --- Forms of the journey: an inline error that keeps what was typed ---------------------


def test_a_nul_in_a_message_is_an_inline_error_and_nothing_is_stored(client, study):
    to_interview(client, study)
    response = say(client, study, f"I think{NUL} she matters", **HTMX)
    assert response.status_code == 400
    html = body(response)
    assert "control characters" in html
    assert "I think\ufffd she matters" in html  # kept, the character made visible
    assert not Message.objects.filter(role="user").exists()


def test_tabs_and_line_breaks_are_fine_in_a_message(client, study):
    to_interview(client, study)
    response = say(client, study, "First line\r\n\tand the second")
    assert response.status_code == 302
    assert Message.objects.filter(role="user").count() == 1


@pytest.mark.parametrize("field", ["title", "description", "policies", "request"])
def test_a_nul_in_any_card_field_is_an_inline_error_keeping_the_rest(client, study, field):
    participant = to_card(client, study)
    before = ValuesCard.objects.get(participant=participant)
    data = card_data("save", request="Add listening")
    if field == "policies":
        data["policies"] = [*data["policies"][:2], f"BAD{NUL}LINE"]
    else:
        data[field] = f"Patient{NUL} Listening"
    response = client.post(url(study, "card"), data)
    assert response.status_code == 400
    html = body(response)
    assert "control characters" in html
    assert "Giving her time." in html or field == "description"
    after = ValuesCard.objects.get(pk=before.pk)
    assert (after.title, after.description, after.policies) == (
        before.title,
        before.description,
        before.policies,
    )


def test_submitting_a_card_with_a_control_character_is_refused(client, study):
    participant = to_card(client, study)
    response = client.post(url(study, "card"), card_data("submit", title="Patient\x1bListening"))
    assert response.status_code == 400
    assert fresh(participant).step == Step.CARD


def test_a_nul_in_a_judgment_reason_is_an_inline_error(client, study):
    participant = to_judgments(client, study)
    first = JudgmentAssignment.objects.filter(participant=participant).order_by("position")[0]
    response = client.post(
        url(study, "judgments"),
        {"hypothesis": first.hypothesis_id, "verdict": "upgrade", "reason": f"Yes{NUL}"},
    )
    assert response.status_code == 400
    assert "control characters" in body(response)
    assert not WiserJudgment.objects.exists()


def test_a_control_character_in_the_survey_comment_is_an_inline_error(client, study):
    participant = to_survey(client, study)
    response = client.post(url(study, "survey"), {"comment": "Thanks\x0c!"})
    assert response.status_code == 400
    assert "Thanks\ufffd!" in body(response)
    assert not SurveyAnswer.objects.filter(participant=participant).exists()


def test_a_nul_in_an_about_you_answer_is_an_inline_error(client, study):
    client.get(url(study))
    client.post(url(study, "consent"), {"action": "agree"})
    response = client.post(url(study, "about"), {"action": "save", "country": f"Fr{NUL}ance"})
    assert response.status_code == 400
    assert "control characters" in body(response)


def test_a_nul_posted_to_a_page_outside_the_journey_is_a_400():
    # The admin's login form: no journey form checks it, the middleware does.
    response = Client().post("/admin/login/", {"username": f"a{NUL}", "password": "x"})
    assert_refused_clearly(response)


# --- Oversized bodies: refused without echo -----------------------------------------------


def test_a_megabyte_message_is_refused_naming_the_limit_without_echoing_it(client, study):
    to_interview(client, study)
    text = "Z" * 1_000_000
    for extra in ({}, HTMX):
        response = say(client, study, text, **extra)
        assert response.status_code == 413
        html = body(response)
        assert "256 KB" in html
        assert "2,000 characters" in html
        assert "Z" * 100 not in html
        assert len(response.content) < 20_000
    assert not Message.objects.filter(role="user").exists()


def test_a_long_message_under_the_body_limit_is_refused_without_echo(client, study):
    to_interview(client, study)
    response = say(client, study, "Y" * 100_000, **HTMX)
    assert response.status_code == 400
    html = body(response)
    assert "the limit is 2,000" in html
    assert "Y" * 100 not in html


def test_a_long_paste_a_little_over_the_limit_is_kept_to_shorten(client, study):
    to_interview(client, study)
    response = say(client, study, "W" * 5_000, **HTMX)
    assert response.status_code == 400
    assert "W" * 5_000 in body(response)


def test_a_huge_card_field_is_not_echoed(client, study):
    to_card(client, study)
    response = client.post(url(study, "card"), card_data("save", description="D" * 50_000))
    assert response.status_code == 400
    html = body(response)
    assert "too long to show here again" in html
    assert "D" * 5_000 not in html


# --- Generated input at every form and parameter of the journey ---------------------------

CONTROL = st.characters(max_codepoint=0x1F) | st.just("\x7f")
SURROGATE = st.characters(categories=["Cs"])  # sent as the (invalid) UTF-8 bytes of one
NASTY = st.sampled_from(
    [
        XSS,
        '"><script>alert(1)</script>',
        "</textarea><img src=x onerror=alert(1)>",
        '=HYPERLINK("http://x")',
        "@SUM(1+1)",
        "\\ud800",
        "%00",
        "\u202e\ufeff",
        "Patient Listening",
        "FEELINGS she names",
        "",
    ]
)
HUGE = st.sampled_from(["é" * 2_001, "x" * 9_000, "<b>" * 20_000, "z" * 300_000])
TEXT = st.one_of(
    st.text(max_size=30),
    st.lists(st.one_of(NASTY, CONTROL, SURROGATE, st.text(max_size=8)), max_size=6).map("".join),
    HUGE,
)
HEADERS = st.sampled_from([{}, HTMX, BOOSTED])

EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _encode(text: str) -> str:
    # surrogatepass: a lone surrogate goes out as its three bytes, invalid UTF-8.
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def form_body(fields: dict) -> str:
    pairs = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append(f"{_encode(name)}={_encode(item)}")
    return "&".join(pairs)


def send(client, method: str, path: str, fields: dict, headers: dict):
    if method == "GET":
        return client.get(f"{path}?{form_body(fields)}", **headers)
    return client.post(
        path, form_body(fields), content_type="application/x-www-form-urlencoded", **headers
    )


@contextmanager
def rolled_back():
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


RAW_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)", re.IGNORECASE)


def assert_safe(response) -> None:
    """No server error, no markup of the participant's let through, no bulk echo."""
    assert response.status_code < 500, body(response)[:2000]
    html = body(response)
    assert not RAW_SCRIPT.search(html)
    assert "<img" not in html.lower()
    assert "<b><b>" not in html
    assert len(response.content) < 150_000


def fuzz(client, method: str, path: str, fields):
    """Post (or get) generated values for ``fields`` (name -> strategy), 30 times."""
    seen = Counter()

    @EXAMPLES
    @given(
        data=st.fixed_dictionaries(fields),
        extra=st.dictionaries(TEXT, TEXT, max_size=2),
        headers=HEADERS,
    )
    def run(data, extra, headers):
        with rolled_back():
            response = send(client, method, path, {**extra, **data}, headers)
            seen[response.status_code] += 1
            assert_safe(response)

    run()
    # The participant was on this step: the form itself answered, not only a redirect.
    assert any(status == 200 or 400 <= status < 500 for status in seen), seen


def test_generated_recruitment_links(study):
    @EXAMPLES
    @given(
        data=st.fixed_dictionaries(
            {}, optional=dict.fromkeys(("PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "pid"), TEXT)
        ),
        path=st.sampled_from(["", "follow-up/", "consent/", "about/", "interview/"]),
    )
    def run(data, path):
        with rolled_back():
            # A logged-out visitor every time.
            assert_safe(send(Client(), "GET", url(study) + path, data, {}))

    run()


def test_generated_consent(client, study):
    client.get(url(study))
    fuzz(client, "POST", url(study, "consent"), {"action": TEXT | st.just("agree")})


def test_generated_about_you(client, study):
    client.get(url(study))
    client.post(url(study, "consent"), {"action": "agree"})
    fields = {
        "action": st.sampled_from(["save", "skip"]) | TEXT,
        "country": TEXT,
        "other": TEXT,
        "political_affiliation": TEXT,
        "age_band": TEXT,
    }
    fuzz(client, "POST", url(study, "about"), fields)


def test_generated_messages(client, study):
    to_interview(client, study)
    fields = {"content": TEXT, "client_token": TEXT}
    fuzz(client, "POST", url(study, "interview"), fields)
    fuzz(client, "GET", url(study, "interview"), {"content": TEXT})


def test_generated_cards(client, study):
    to_card(client, study)
    action = st.sampled_from(["save", "submit", "revise", "add", "remove-0", "remove-x"]) | TEXT
    fields = {
        "title": TEXT,
        "description": TEXT,
        "policies": st.lists(TEXT, max_size=9),
        "request": TEXT,
        "action": action,
    }
    fuzz(client, "POST", url(study, "card"), fields)


def test_generated_selections(client, study):
    participant = to_selection(client, study)
    shown = [str(value.pk) for value in selectors.shown_values(participant)]
    ids = st.sampled_from(shown or ["1"]) | TEXT
    fuzz(client, "POST", url(study, "selection"), {"values": st.lists(ids, max_size=4)})


def test_generated_judgments(client, study):
    participant = to_judgments(client, study)
    story = str(JudgmentAssignment.objects.filter(participant=participant)[0].hypothesis_id)
    fields = {
        "hypothesis": st.just(story) | TEXT,
        "verdict": st.sampled_from(["upgrade", "no_upgrade", "not_sure"]) | TEXT,
        "reason": TEXT,
        "reason_private": TEXT,
    }
    fuzz(client, "POST", url(study, "judgments"), fields)


def test_generated_survey_and_follow_up(client, study):
    to_survey(client, study)
    items = st.sampled_from(["1", "5"]) | TEXT
    fields = dict.fromkeys(("represented", "clarified", "learned", "trust"), items)
    fuzz(client, "POST", url(study, "survey"), {**fields, "comment": TEXT})
    client.post(url(study, "survey"), {})
    follow_up = {"fair": st.sampled_from(["yes", "no"]) | TEXT, "fair_position": TEXT}
    fuzz(client, "POST", url(study, "follow-up"), {**follow_up, "card": TEXT})
