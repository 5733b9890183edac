"""What every step's view shares: the participant from the session, redirects to the
current step, the htmx partial, a study closing; the journey end to end."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError
from django_htmx.middleware import HtmxDetails

from elicitation.models import (
    LLMRequest,
    Participant,
    Study,
)
from elicitation.views import common
from tests.helpers import (
    ANSWERS,
    BOOSTED,
    agree,
    card_data,
    fresh,
    make_study,
    participant_of,
    say,
    to_card,
    url,
)

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_a_study_closed_mid_journey_stops_the_steps_but_not_the_done_page(client):
    study = make_study()
    agree(client, study)
    study.status = Study.Status.CLOSED
    study.save(update_fields=["status"])
    assert client.get(url(study, "about")).status_code == 410


def test_steps_need_a_participant(client):
    study = make_study()
    assert client.get(url(study, "interview"))["Location"] == url(study, "consent")


def test_skipping_ahead_by_url_goes_to_the_current_step(client):
    study = make_study()
    agree(client, study)
    for step in ["question", "interview", "card", "selection", "judgments", "survey", "done"]:
        response = client.get(url(study, step))
        assert response.status_code == 302
        assert response["Location"] == url(study, "about")


def test_an_htmx_request_gets_the_step_partial(client):
    study = make_study()
    agree(client, study)
    response = client.get(url(study, "about"), **BOOSTED)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="step"')
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]
    assert "<html" in client.get(url(study, "about")).content.decode()


def test_a_step_sent_by_htmx_answers_with_the_next_step_at_once(client):
    study = make_study()
    agree(client, study)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert response.status_code == 200  # no redirect: one round trip, not two
    assert response["HX-Push-Url"] == url(study, "question")  # the address bar follows
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="step"')
    assert 'action="' + url(study, "question") + '"' in html  # the next step's own form
    assert fresh(participant_of(client, study)).step == Step.QUESTION
    # The server's own record of the request (its WSGI environ, which gunicorn's access
    # log reads) still says what was sent.
    environ = response.wsgi_request.environ
    assert (environ["REQUEST_METHOD"], environ["PATH_INFO"]) == ("POST", url(study, "about"))
    assert response.wsgi_request.path == url(study, "question")


def test_a_step_sent_without_javascript_still_redirects(client):
    study = make_study()
    agree(client, study)
    response = client.post(url(study, "about"), {"action": "skip"})
    assert response.status_code == 302  # post, redirect, get: a reload never posts twice
    assert response["Location"] == url(study, "question")
    assert "HX-Push-Url" not in response


def test_a_step_shown_at_once_that_sends_elsewhere_is_that_redirect(rf):
    # The next step's view finds no participant in the session: it sends the browser to
    # consent, and that is the answer, as a redirect (a second hop is never run here),
    # with no address pushed.
    study = make_study()
    request = rf.post("/", **BOOSTED)
    request.session, request.user = SessionStore(), AnonymousUser()
    request.htmx = HtmxDetails(request)
    response = common.show_at_once(request, url(study, "about"))
    assert response.status_code == 302
    assert response["Location"] == url(study, "consent")
    assert "HX-Push-Url" not in response


def test_a_next_step_that_fails_on_the_database_is_a_redirect_and_the_step_stays_saved(
    client, monkeypatch
):
    # The database went away between saving the step and showing the next one (a
    # restart): the participant gets the redirect, not an error, and loses nothing.
    study = make_study()
    agree(client, study)
    resolve_step = common._resolve_step

    def gone(request, *args):
        if getattr(request, common.FORWARDED, False):
            raise OperationalError("server closed the connection unexpectedly")
        return resolve_step(request, *args)

    monkeypatch.setattr(common, "_resolve_step", gone)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert response.status_code == 302
    assert response["Location"] == url(study, "question")
    assert fresh(participant_of(client, study)).step == Step.QUESTION
    monkeypatch.undo()
    assert client.get(url(study, "question"), **BOOSTED).status_code == 200


def test_a_second_hop_is_a_redirect(rf):
    request = rf.get("/")
    setattr(request, common.FORWARDED, True)
    assert common.show_at_once(request, "/s/any/about/") is None


def test_a_step_whose_view_waits_on_the_model_is_a_redirect(rf):
    # Drafting the card is an async view: it is not run inside another request.
    study = make_study()
    request = rf.post("/")
    assert common.show_at_once(request, url(study, "interview", "card")) is None


def test_the_journey_runs_with_every_optional_step_off(client):
    study = make_study(
        demographics_enabled=False,
        selection_enabled=False,
        judgments_enabled=False,
        survey_enabled=False,
    )
    participant = agree(client, study)
    assert participant.step == Step.QUESTION
    client.post(url(study, "question"))
    for text in ANSWERS:
        say(client, study, text)
    client.post(url(study, "interview", "card"))
    client.post(url(study, "card"), card_data("submit"))
    assert fresh(participant).step == Step.DONE


def test_llm_requests_are_counted_per_action(client):
    study = make_study()
    to_card(client, study)
    kinds = sorted(LLMRequest.objects.values_list("kind", flat=True))
    assert kinds == ["articulate", "message", "message", "message"]


def test_progress_moves_one_step_at_a_time_when_drawn_steps_are_skipped(client):
    from unittest import mock

    study = make_study()  # no values and no stories: selection and judgments are skipped
    to_card(client, study)
    assert "Step 5 of 8" in client.get(url(study, "card")).content.decode()
    with mock.patch("elicitation.queue.enqueue"):
        client.post(url(study, "card"), card_data("submit"))
    html = client.get(url(study, "survey")).content.decode()
    assert "Step 6 of 6" in html, "the skipped steps are not counted (it read 8 of 8)"
