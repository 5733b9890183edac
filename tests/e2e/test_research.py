"""The researchers' pages and the participant follow-up in headless Chromium, against
uvicorn, on the demo study with invented participants, judgments and LLM calls.

A researcher logs in through the admin, opens the studies list, the dashboard (which
refreshes itself while a new participant arrives), the graph review and its values, and
splits a merge; a finished participant then answers the follow-up. Screenshots go to
test-artifacts/screenshots/research-*.png.
"""

import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from elicitation.demo import load_demo_study
from elicitation.models import (
    ConsentDecline,
    Demographics,
    LLMCall,
    Participant,
    Study,
    StudyMember,
    SurveyAnswer,
    ValuesCard,
    WiserJudgment,
    WorkerHeartbeat,
)
from moralgraph.models import CardMapping, UpgradeHypothesis, Value, ValueMerge
from moralgraph.services import scoring
from moralgraph.services.importers import import_reference
from tests import factories
from tests.e2e.conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
Step = Participant.Step
PARTIES = ["democrat", "republican", "independent", None]
REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "reference"
TITLE_XSS = "<b>Bold</b> Listening <script>window.__xss='research'</script>"


def _populate(study) -> Participant:
    """Participants at every step, judgments on the demo's stories, survey answers, LLM
    calls, a merge and a failed card. Returns a finished participant with a recruiter id
    whose card is in the graph."""
    rng = random.Random(7)
    questions = list(study.questions.order_by("position"))
    start = timezone.now() - timedelta(hours=5)
    steps = [Step.DONE] * 26 + [Step.INTERVIEW] * 3 + [Step.CARD, Step.JUDGMENTS, Step.SURVEY]
    participants = []
    for i, step in enumerate(steps):
        consented = start + timedelta(minutes=7 * i)
        p = Participant.objects.create(
            study=study,
            step=step,
            question=questions[i % len(questions)],
            consented_at=consented,
            recruiter_pid=f"PID{i:03d}",
        )
        if step == Step.DONE:
            p.completed_at = consented + timedelta(minutes=rng.uniform(14, 31))
            p.save()
            SurveyAnswer.objects.create(
                participant=p,
                represented=rng.choice([3, 4, 4, 5, 5, 5]),
                clarified=rng.choice([2, 3, 4, 4, 5]),
                learned=rng.choice([3, 4, 5]),
                trust=rng.choice([2, 3, 4, 5]),
            )
        party = PARTIES[i % len(PARTIES)]
        if party:
            Demographics.objects.create(participant=p, answers={"political_affiliation": party})
        participants.append(p)
    for _ in range(3):
        ConsentDecline.objects.create(study=study)

    stories = list(UpgradeHypothesis.objects.filter(study=study).order_by("id"))
    judged = set()
    for p in participants:
        for story in rng.sample(stories, 3):
            key = WiserJudgment.make_pair_key(story.from_value_id, story.to_value_id)
            if (p.pk, key) in judged:
                continue
            judged.add((p.pk, key))
            verdict = rng.choices(["upgrade", "no_upgrade", "not_sure"], [6, 2, 1])[0]
            WiserJudgment.objects.create(
                participant=p, hypothesis=story, pair_key=key, verdict=verdict
            )

    for stage, calls, cost in (
        ("interview", 140, "0.0031"),
        ("articulate", 27, "0.0048"),
        ("revise", 6, "0.0040"),
        ("embed", 30, "0.00002"),
        ("dedup", 41, "0.0025"),
        ("contexts", 12, "0.0030"),
        ("hypothesis", 9, "0.0110"),
    ):
        LLMCall.objects.bulk_create(
            LLMCall(
                study=study,
                stage=stage,
                model="gpt-4o-mini",
                input_tokens=rng.randint(400, 2400),
                output_tokens=rng.randint(60, 500),
                cost=Decimal(cost),
                latency_ms=rng.randint(400, 2600),
                error="timeout" if stage == "dedup" and n < 2 else "",
            )
            for n in range(calls)
        )

    # One finished participant's own card, merged with another's by deduplication.
    first = participants[0]
    value = Value.objects.filter(study=study, title="Informed Autonomy").first()
    card = ValuesCard.objects.create(
        study=study,
        participant=first,
        question=first.question,
        title="Her Choice, Clearly Seen",
        description="Making sure she understands every option so the decision is really hers.",
        policies=[
            "OPTIONS she has not heard about yet",
            "PRESSURE from family that she might mistake for her own wish",
            "TIME she has to decide without rushing",
        ],
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=first.completed_at,
        reconcile_status=ValuesCard.Reconcile.DONE,
        reconciled_at=first.completed_at,
    )
    own = Value.objects.create(
        study=study, title=card.title, description=card.description, policies=card.policies
    )
    merge = ValueMerge.objects.create(
        study=study,
        into_value=value,
        from_value=own,
        card_ids=[card.pk],
        similarity=0.91,
        model="gpt-4o-mini",
        reason="Both attend to the options she has and to pressure that is not her own.",
    )
    CardMapping.objects.create(card=card, value=value, merge=merge, mapped_by="llm")
    Value.objects.filter(pk=own.pk).update(is_active=False)

    failed = ValuesCard.objects.create(
        study=study,
        participant=participants[5],
        question=participants[5].question,
        title=TITLE_XSS,
        description="A card the judge could not place.",
        policies=["ONE", "TWO", "THREE"],
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now() - timedelta(minutes=40),
        reconcile_status=ValuesCard.Reconcile.FAILED,
        reconcile_error="LLMError: dedup judge returned invalid JSON after 3 attempts",
        reconcile_attempts=3,
    )
    assert failed.pk
    ValuesCard.objects.create(
        study=study,
        question=questions[1],
        title="Curiosity First",
        description="Starting from what the child loves.",
        policies=["INTERESTS", "QUESTIONS", "MOMENTS"],
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now() - timedelta(minutes=3),
    )
    WorkerHeartbeat.objects.update_or_create(
        name="worker", defaults={"seen_at": timezone.now() - timedelta(minutes=14)}
    )
    scoring.score_study(study=study)
    return first


@pytest.fixture
def study(transactional_db):
    # Two more studies for the list: one imported from the reference app, one in draft.
    reference = import_reference(REFERENCE, study_slug="reference").study
    scoring.score_study(study=reference, mode="compat")
    factories.StudyFactory(slug="pilot", title="Pilot: parenting questions", status="draft")
    return load_demo_study()


@pytest.fixture
def researcher(django_user_model, study):
    """An owner of every study here (research pages show a study to its members only)."""
    user = django_user_model.objects.create_user(
        "researcher", password="a long test password", is_staff=True
    )
    for each in Study.objects.all():
        StudyMember.objects.create(study=each, user=user, role=StudyMember.Role.OWNER)
    return user


def _login(page, base: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "a long test password")
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}{path}")


def test_research_pages(uvicorn_server, browser, screenshots, study, researcher):
    base = uvicorn_server.url
    finished = _populate(study)

    # A finished participant, weeks later, from the recruiter's follow-up message.
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    page.goto(f"{base}/s/demo/follow-up/?PROLIFIC_PID={finished.recruiter_pid}")
    page.locator("#step h1").wait_for()
    assert "Other participants wrote cards that express the same value" in page.content()
    screenshots(page, "research-01-follow-up-phone")
    page.locator("label.choice", has_text="Yes").click()
    page.locator("label.likert-option", has_text="4").click()
    page.click("text=Send my answer")
    page.locator(".notice").wait_for()
    answer = SurveyAnswer.objects.get(participant=finished)
    assert (answer.fair, answer.fair_position) == (True, 4)
    context.close()

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _login(page, base, "/research/")
    page.locator("h1", has_text="Studies").wait_for()
    assert page.locator(".copy-button").first.is_visible()
    screenshots(page, "research-02-studies")

    page.click("a.study-name >> text=How should AI answer hard questions?")
    page.wait_for_url(f"{base}/research/demo/")
    page.locator("#median-time").wait_for()
    assert "No worker has been seen for 14" in page.content()
    screenshots(page, "research-03-dashboard")

    # The dashboard refreshes itself: a new participant shows up without a reload.
    figure = page.locator(".kpi-value").first
    before = int(figure.inner_text())
    Participant.objects.create(study=study, step=Step.ABOUT, question=study.questions.first())
    page.wait_for_function(
        "n => parseInt(document.querySelector('.kpi-value').textContent) === n",
        arg=before + 1,
        timeout=12_000,
    )

    page.click("text=Rescore now")
    page.locator(".flash").wait_for()

    page.click("nav.tabs >> text=Graph review")
    page.wait_for_url(f"{base}/research/demo/review/")
    page.locator(".winner").first.wait_for()
    page.locator(".story-details summary").first.click()
    screenshots(page, "research-04-graph")
    page.locator(".context-review").first.screenshot(
        path=str(SCREENSHOTS / "research-04b-graph-context.png")
    )

    page.locator(".value-detail summary", has_text="Informed Autonomy").click()
    assert page.evaluate("window.__xss === undefined")
    page.locator("#values").screenshot(path=str(SCREENSHOTS / "research-05-graph-values.png"))
    page.locator("#merges").screenshot(path=str(SCREENSHOTS / "research-06-merges.png"))

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#merges button", has_text="Split").click()
    page.wait_for_url("**/review/#merges")
    page.locator(".flash", has_text="Split: 1 card(s)").wait_for()
    assert ValueMerge.objects.get().undone_at is not None

    page.click("nav.segmented >> text=Reference (compat)")
    page.locator("text=No snapshot yet").wait_for()
    assert page.locator("nav.segmented [aria-current=page]").inner_text() == "Reference (compat)"
    screenshots(page, "research-07-graph-no-compat-snapshot")

    # The reference's scoring of an imported study: one pooled graph.
    page.goto(f"{base}/research/reference/review/?mode=compat")
    page.locator("h2", has_text="The pooled graph").wait_for()
    screenshots(page, "research-07b-graph-compat")

    page.click("nav.tabs >> text=Exports")
    page.locator("text=New export").wait_for()
    assert "/research/reference/exports/" in page.url
    screenshots(page, "research-08-exports")
    context.close()

    # The dashboard on a phone: one column, nothing cut off.
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    _login(page, base, "/research/demo/")
    page.locator("#median-time").wait_for()
    screenshots(page, "research-09-dashboard-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
