"""The recruitment link, consent, and coming back."""

import pytest
from django.test import Client

from elicitation.models import (
    ConsentDecline,
    Participant,
    Study,
)
from tests.helpers import (
    BOOSTED,
    agree,
    make_study,
    participant_of,
    to_interview,
    url,
)

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_a_draft_study_does_not_exist(client):
    study = make_study(status=Study.Status.DRAFT)
    assert client.get(url(study)).status_code == 404
    assert client.get(url(study, "consent")).status_code == 404


def test_a_closed_study_says_so(client):
    study = make_study(status=Study.Status.CLOSED)
    response = client.get(url(study), follow=True)
    assert response.status_code == 410
    assert b"This study is closed" in response.content
    assert client.post(url(study, "consent"), {"action": "agree"}).status_code == 410
    assert not Participant.objects.exists()


def test_the_link_asks_for_consent_with_the_study_text(client):
    study = make_study(consent_text="Line one.\n\nLine <two>.")
    response = client.get(url(study) + "?PROLIFIC_PID=P1&STUDY_ID=S&SESSION_ID=X", follow=True)
    assert response.redirect_chain[-1][0] == url(study, "consent")
    html = response.content.decode()
    assert "Line <two>" not in html and "Line &lt;two&gt;." in html
    assert "Step 1 of 8" in html
    assert not Participant.objects.exists()


def test_agreeing_starts_the_participant_with_the_recruiter_ids(client):
    study = make_study()
    participant = agree(client, study, "?PROLIFIC_PID=P1&STUDY_ID=S1&SESSION_ID=X1")
    assert (participant.recruiter_pid, participant.recruiter_study_id) == ("P1", "S1")
    assert participant.recruiter_session_id == "X1"
    assert participant.step == Step.ABOUT


def test_a_generic_pid_is_a_recruiter_id_too(client):
    study = make_study()
    assert agree(client, study, "?pid=abc").recruiter_pid == "abc"


def test_agreeing_twice_makes_one_participant(client):
    study = make_study()
    agree(client, study, "?PROLIFIC_PID=P1")
    assert client.post(url(study, "consent"), {"action": "agree"}).status_code == 302
    assert Participant.objects.count() == 1


def test_declining_stores_only_the_decline_and_thanks(client):
    study = make_study()
    client.get(url(study) + "?PROLIFIC_PID=P1")
    response = client.post(url(study, "consent"), {"action": "decline"})
    assert b"Nothing about you has been stored" in response.content
    assert ConsentDecline.objects.filter(study=study).count() == 1
    assert not Participant.objects.exists()
    assert f"mge.recruiter.{study.pk}" not in client.session


def test_declining_returns_to_the_recruiter_with_the_no_consent_code(client):
    study = make_study(
        completion_url="https://app.prolific.com/submissions/complete", no_consent_code="NOC"
    )
    response = client.post(url(study, "consent"), {"action": "decline"})
    assert response.status_code == 302
    assert response["Location"] == "https://app.prolific.com/submissions/complete?cc=NOC"
    response = client.post(url(study, "consent"), {"action": "decline"}, **BOOSTED)
    assert response["HX-Redirect"].endswith("cc=NOC")


def test_a_consent_post_without_a_choice_is_refused(client):
    study = make_study()
    response = client.post(url(study, "consent"), {})
    assert response.status_code == 400
    assert not Participant.objects.exists()


def test_returning_with_the_recruiter_id_resumes_in_a_new_browser(client):
    study = make_study()
    participant = to_interview(client, study)
    Participant.objects.filter(pk=participant.pk).update(recruiter_pid="P9")
    other = Client()
    response = other.get(url(study) + "?PROLIFIC_PID=P9")
    assert response["Location"] == url(study, "interview")
    assert participant_of(other, study) == participant
    assert Participant.objects.count() == 1


def test_returning_in_the_same_browser_resumes(client):
    study = make_study()
    agree(client, study)
    assert client.get(url(study))["Location"] == url(study, "about")
    assert client.get(url(study, "consent"))["Location"] == url(study, "about")


def test_the_offline_interviewer_is_shown(client):
    study = make_study()
    assert b"Offline interviewer" in client.get(url(study, "consent")).content
