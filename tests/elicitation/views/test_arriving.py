"""The recruitment link, consent, and coming back."""

import re

import pytest
from django.test import Client

from elicitation.models import (
    ConsentDecline,
    Message,
    Participant,
    Study,
)
from elicitation.services import participants
from tests.helpers import (
    BOOSTED,
    agree,
    fresh,
    make_study,
    participant_of,
    say,
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
    client.get(url(study))
    response = client.post(url(study, "consent"), {"action": "decline"})
    assert b"Nothing about you has been stored" in response.content
    assert ConsentDecline.objects.filter(study=study).count() == 1
    assert not Participant.objects.exists()


def test_declining_with_a_recruiter_id_keeps_only_it_screened_out(client):
    study = make_study(no_consent_code="NOC")
    client.get(url(study) + "?PROLIFIC_PID=P1&STUDY_ID=S&SESSION_ID=X")
    response = client.post(url(study, "consent"), {"action": "decline"})
    html = response.content.decode()
    assert "Only your recruiter id has been stored" in html and "NOC" in html
    assert ConsentDecline.objects.filter(study=study).count() == 1
    declined = Participant.objects.get(study=study)
    assert (declined.recruiter_pid, declined.recruiter_session_id) == ("P1", "X")
    assert declined.screen_out_reason == "declined_consent" and declined.screened_out_at
    assert declined.completion_code == "NOC"
    assert declined.consented_at is None and declined.question is None
    assert f"mge.recruiter.{study.pk}" not in client.session
    # Coming back with the same id: still declined, never a way in.
    again = client.get(url(study) + "?PROLIFIC_PID=P1")
    assert again.status_code == 200 and b"Only your recruiter id" in again.content
    assert Participant.objects.filter(study=study).count() == 1


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


def _started_as(client, study, pid: str) -> Participant:
    """A participant with ``pid`` on the interview, who has said something personal."""
    client.get(url(study) + f"?PROLIFIC_PID={pid}")
    participant = to_interview(client, study)
    assert participant.recruiter_pid == pid
    say(client, study, "My sister's secret is something only I know.")
    return participant


def _code_shown(client, study) -> str:
    html = client.get(url(study, "interview")).content.decode()
    match = re.search(r'class="resume-code-value">([A-Z0-9-]+)<', html)
    assert match, "the resume code is on the page"
    return match.group(1)


def test_the_same_recruiter_id_in_another_browser_sees_nothing_of_theirs(client):
    study = make_study()
    participant = _started_as(client, study, "P9")
    other = Client()
    response = other.get(url(study) + "?PROLIFIC_PID=P9", follow=True)
    assert response.redirect_chain[-1][0] == url(study, "resume")
    html = response.content.decode()
    assert "This id has already started" in html and "resume code" in html
    assert "secret" not in html and "transcript" not in html
    # Not bound: every step of the journey sends this browser to consent, none shows
    # the transcript, and nothing can be posted as them.
    assert f"mge.participant.{study.pk}" not in other.session
    assert other.get(url(study, "interview"))["Location"] == url(study, "consent")
    assert say(other, study, "posted by someone else").status_code == 302
    assert not Message.objects.filter(content="posted by someone else").exists()
    # Agreeing again with that id does not hand the participant over either.
    assert other.post(url(study, "consent"), {"action": "agree"})["Location"] == url(
        study, "resume"
    )
    assert f"mge.participant.{study.pk}" not in other.session
    assert Participant.objects.count() == 1
    assert fresh(participant).session_key == client.session.session_key


def test_the_resume_code_shown_in_the_first_browser_continues_in_another(client):
    study = make_study()
    participant = _started_as(client, study, "P9")
    code = _code_shown(client, study)
    assert code in client.get(url(study, "interview")).content.decode()  # kept on the page
    other = Client()
    other.get(url(study) + "?PROLIFIC_PID=P9")
    response = other.post(url(study, "resume"), {"code": code.lower().replace("-", " ")})
    assert response["Location"] == url(study, "interview")
    assert participant_of(other, study) == participant
    html = other.get(url(study, "interview")).content.decode()
    assert "secret" in html and code in html  # the same code, shown here too
    assert participant_of(client, study) == participant  # the first browser still works


def test_a_wrong_resume_code_is_refused_and_guessing_is_limited(client):
    study = make_study()
    _started_as(client, study, "P9")
    code = _code_shown(client, study)
    other = Client()
    other.get(url(study) + "?PROLIFIC_PID=P9")
    response = other.post(url(study, "resume"), {"code": "ZZZZ-ZZZZ"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "not the resume code" in html and "ZZZZ-ZZZZ" in html and "secret" not in html
    for _ in range(participants.RESUME_WRONG_PER_SESSION - 1):
        other.post(url(study, "resume"), {"code": "ZZZZ-ZZZZ"})
    response = other.post(url(study, "resume"), {"code": code})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert f"mge.participant.{study.pk}" not in other.session


def test_no_resume_code_for_a_participant_without_a_recruiter_id(client):
    study = make_study()
    to_interview(client, study)
    assert "resume-code" not in client.get(url(study, "interview")).content.decode()


def test_another_recruiter_id_in_a_browser_that_takes_part_asks_which(client):
    study = make_study()
    first = _started_as(client, study, "P1")
    response = client.get(url(study) + "?PROLIFIC_PID=P2&STUDY_ID=S2", follow=True)
    assert response.redirect_chain[-1][0] == url(study, "switch")
    html = response.content.decode()
    assert "Continue as P1" in html and "Start as P2" in html
    # Whatever happens next, nothing is recorded under P2 by P1's participant.
    assert fresh(first).recruiter_pid == "P1"
    response = client.post(url(study, "switch"), {"action": "continue"})
    assert response["Location"] == url(study, "interview")
    assert participant_of(client, study) == first
    assert client.get(url(study))["Location"] == url(study, "interview")  # asked once


def test_starting_as_the_other_recruiter_id(client):
    study = make_study()
    first = _started_as(client, study, "P1")
    client.get(url(study) + "?PROLIFIC_PID=P2&STUDY_ID=S2")
    assert client.post(url(study, "switch"), {"action": "switch"})["Location"] == url(
        study, "consent"
    )
    second = agree(client, study)
    assert second.pk != first.pk
    assert (second.recruiter_pid, second.recruiter_study_id) == ("P2", "S2")
    assert fresh(first).recruiter_pid == "P1"
    # The first stays saved, reachable with its code: the switch page said so.
    assert Participant.objects.count() == 2


def test_starting_as_an_id_that_started_elsewhere_asks_for_its_code(client):
    study = make_study()
    _started_as(Client(), study, "P2")
    _started_as(client, study, "P1")
    client.get(url(study) + "?PROLIFIC_PID=P2")
    assert client.post(url(study, "switch"), {"action": "switch"})["Location"] == url(
        study, "resume"
    )


def test_returning_in_the_same_browser_resumes(client):
    study = make_study()
    agree(client, study)
    assert client.get(url(study))["Location"] == url(study, "about")
    assert client.get(url(study, "consent"))["Location"] == url(study, "about")


def test_the_offline_interviewer_is_shown(client):
    study = make_study()
    assert b"Offline interviewer" in client.get(url(study, "consent")).content
