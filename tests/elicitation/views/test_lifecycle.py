"""Who may come in at each status: the pilot's test link, closing that lets everyone
inside finish, a closed study's done page, recruiter ids, and the public home page."""

from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from elicitation.models import JudgmentAssignment, Message, Participant, Study, StudyMember
from elicitation.services import lifecycle
from tests import factories
from tests.helpers import (
    HTMX,
    advance_to,
    agree,
    card_data,
    events,
    fresh,
    make_study,
    participant_of,
    say,
    stream,
    to_interview,
    url,
)

pytestmark = pytest.mark.django_db
Status = Study.Status
Step = Participant.Step


def _test_link(study, token=None):
    return url(study, "test", token or study.pilot_token)


def _close(study, to=Status.CLOSING):
    # Saved as the researcher's move saves it: this process's pages read it afresh.
    study.status = to
    study.save(update_fields=["status"])


# --- Pilot ---------------------------------------------------------------------------


def test_a_pilot_is_not_there_for_the_public(client):
    study = make_study(status=Status.PILOT)
    assert client.get(url(study)).status_code == 404
    assert client.get(url(study, "consent")).status_code == 404
    assert client.post(url(study, "consent"), {"action": "agree"}).status_code == 404
    assert not Participant.objects.exists()


def test_a_wrong_test_link_is_a_404(client):
    study = make_study(status=Status.PILOT)
    assert client.get(_test_link(study, "not-the-token")).status_code == 404
    assert client.get(url(study)).status_code == 404


def test_a_test_link_changed_in_another_process_is_the_only_one_valid(client, settings):
    settings.STUDY_CACHE_SECONDS = 60
    study = make_study(status=Status.PILOT)
    old = study.pilot_token
    assert client.get(_test_link(study, old)).status_code == 302  # the study is now kept
    # Changed by another process: this one is not told (no signal reaches it).
    Study.objects.filter(pk=study.pk).update(pilot_token="a-new-secret")
    assert Client().get(_test_link(study, old)).status_code == 404
    assert Client().get(_test_link(study, "a-new-secret")).status_code == 302


def test_the_test_link_admits_to_a_pilot_as_a_test_participant(client):
    study = make_study(status=Status.PILOT)
    response = client.get(_test_link(study), follow=True)
    assert response.redirect_chain[-1][0] == url(study, "consent")
    assert client.post(url(study, "consent"), {"action": "agree"}).status_code == 302
    participant = participant_of(client, study)
    assert participant.is_test
    # Onward through the journey like anyone else, told that it is a test run.
    html = client.get(url(study, "about")).content.decode()
    assert 'id="test-run-note"' in html
    assert 'id="test-run-note"' not in Client().get(url(study, "about")).content.decode()


def test_the_test_link_still_works_once_live_and_marks_the_participant(client):
    study = make_study()
    client.get(_test_link(study))
    assert agree(client, study).is_test
    assert not agree(Client(), study).is_test


def test_staff_with_a_role_walk_a_pilot_as_test_participants(client, django_user_model):
    study = make_study(status=Status.PILOT)
    member = django_user_model.objects.create_user("member", password="x", is_staff=True)
    stranger = django_user_model.objects.create_user("stranger", password="x", is_staff=True)
    StudyMember.objects.create(study=study, user=member, role=StudyMember.Role.VIEWER)
    client.force_login(stranger)
    assert client.get(url(study)).status_code == 404
    client.force_login(member)
    assert agree(client, study).is_test


# --- Closing -------------------------------------------------------------------------


def test_closing_turns_new_arrivals_away_with_a_clear_page(client):
    study = make_study(status=Status.CLOSING)
    response = client.get(url(study), follow=True)
    assert response.status_code == 410
    assert b"not taking new participants" in response.content
    assert client.post(url(study, "consent"), {"action": "agree"}).status_code == 410
    client.get(_test_link(study))
    assert client.post(url(study, "consent"), {"action": "agree"}).status_code == 410
    assert not Participant.objects.exists()


def test_closing_lets_a_participant_mid_interview_finish_every_step(client, graph_study):
    participant = to_interview(client, graph_study)
    lifecycle.transition(graph_study, Status.CLOSING)
    # The interview, with its streamed reply.
    response = say(client, graph_study, "I think she should take her time.", **HTMX)
    assert response.status_code == 200
    reply = Message.objects.filter(role="assistant").order_by("-seq").first()
    streamed, body = stream(client, url(graph_study, "interview", "reply", reply.pk))
    assert streamed.status_code == 200
    assert events(body)[-1][0] == "done"
    for text in ["Her family matters to her.", "She listens to the people she trusts."]:
        assert say(client, graph_study, text).status_code == 302
    # The card, the selection, the judgments, the survey and the done page.
    assert client.post(url(graph_study, "interview", "card")).status_code == 302
    assert client.get(url(graph_study, "card")).status_code == 200
    with mock.patch("elicitation.queue.enqueue"):
        assert client.post(url(graph_study, "card"), card_data("submit")).status_code == 302
        assert fresh(participant).step == Step.SELECTION
        assert client.get(url(graph_study, "selection")).status_code == 200
        assert client.post(url(graph_study, "selection"), {}).status_code == 302
        assert fresh(participant).step == Step.JUDGMENTS
        assert client.get(url(graph_study, "judgments")).status_code == 200
        for assignment in JudgmentAssignment.objects.filter(participant=participant):
            response = client.post(
                url(graph_study, "judgments"),
                {"hypothesis": assignment.hypothesis_id, "verdict": "upgrade"},
            )
            assert response.status_code == 302
    assert client.get(url(graph_study, "survey")).status_code == 200
    assert client.post(url(graph_study, "survey"), {"represented": "5"}).status_code == 302
    assert client.get(url(graph_study, "done")).status_code == 200
    assert fresh(participant).completed_at is not None
    # The last one inside finished: the study closed by itself.
    assert Study.objects.get(pk=graph_study.pk).status == Status.CLOSED


def test_the_entry_link_sends_someone_inside_a_closing_study_to_their_step(client):
    study = make_study()
    to_interview(client, study)
    _close(study)
    response = client.get(url(study))
    assert response.status_code == 302 and response["Location"] == url(study, "interview")


# --- Closed --------------------------------------------------------------------------


def test_a_closed_study_stops_those_inside_but_keeps_the_done_page(client, graph_study):
    to_interview(client, graph_study)
    finished = Client()
    done = agree(finished, graph_study)
    with mock.patch("elicitation.queue.enqueue"):
        advance_to(done, Step.DONE)
    _close(graph_study, Status.CLOSED)
    assert client.get(url(graph_study, "interview")).status_code == 410
    assert say(client, graph_study, "Still here?").status_code == 410
    reply = Message.objects.filter(role="assistant").first()
    streamed, _ = stream(client, url(graph_study, "interview", "reply", reply.pk))
    assert streamed.status_code == 410
    assert finished.get(url(graph_study, "done")).status_code == 200


# --- Recruiter ids, screen-out, the home page ----------------------------------------------


def test_a_study_requiring_a_recruiter_id_turns_away_a_bare_link(client):
    study = make_study(recruiter_id_required=True)
    response = client.get(url(study))
    assert response.status_code == 403
    assert b"link from your recruiter" in response.content
    assert client.post(url(study, "consent"), {"action": "agree"}).status_code == 403
    assert agree(Client(), study, "?PROLIFIC_PID=P1").recruiter_pid == "P1"
    assert agree(Client(), study, "?pid=P2").recruiter_pid == "P2"
    # The test link needs none.
    tester = Client()
    tester.get(_test_link(study))
    assert agree(tester, study).is_test


def test_a_participant_of_a_full_group_is_told_plainly_with_the_screen_out_code(client):
    study = make_study(
        group_answers=["democrat", "republican"],
        group_quotas={"democrat": 0},
        no_consent_code="SCREENED",
    )
    agree(client, study)
    response = client.post(url(study, "about"), {"political_affiliation": "democrat"}, follow=True)
    html = response.content.decode()
    assert "all the participants it needs from your group" in html
    assert "SCREENED" in html
    participant = participant_of(client, study)
    assert participant.screen_out_reason == "quota_full"
    # Every step shows the same page from now on.
    assert "from your group" in client.get(url(study, "question")).content.decode()


def test_the_home_page_lists_only_live_public_studies(client):
    listed = factories.StudyFactory(title="Listed one", is_public=True)
    factories.StudyFactory(title="Unlisted one")
    factories.StudyFactory(title="Pilot one", status=Status.PILOT, is_public=True)
    factories.StudyFactory(title="Closing one", status=Status.CLOSING, is_public=True)
    html = client.get("/").content.decode()
    assert listed.title in html
    assert "Unlisted one" not in html and "Pilot one" not in html and "Closing one" not in html


def test_each_journey_request_records_the_participant_as_seen(client):
    study = make_study(inactive_minutes=1)
    participant = agree(client, study)
    Participant.objects.filter(pk=participant.pk).update(
        last_seen_at=None, abandoned_at=participant.created_at
    )
    assert client.get(url(study, "about")).status_code == 200
    participant = fresh(participant)
    assert participant.last_seen_at is not None and participant.abandoned_at is None


def test_a_quota_met_since_the_last_completion_closes_the_study_at_the_next_arrival(client):
    study = make_study()
    factories.ParticipantFactory(study=study, step=Step.DONE, completed_at=timezone.now())
    Study.objects.filter(pk=study.pk).update(max_completed=1)
    client.get(url(study))
    assert client.post(url(study, "consent"), {"action": "agree"}).status_code == 410
    assert Study.objects.get(pk=study.pk).status == Status.CLOSING
