"""The recruiter's approval list: one row per recruiter id, with status, the participant's
own code, minutes and flags; safe cells; nobody without a recruiter id."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from elicitation.models import Message, Participant
from elicitation.services import consent
from moralgraph.services.exports import approval
from tests import factories

pytestmark = pytest.mark.django_db
Step = Participant.Step


def _say(participant, *texts, pasted=0):
    interview = factories.InterviewFactory(participant=participant, question=participant.question)
    for seq, text in enumerate(texts, start=1):
        Message.objects.create(
            interview=interview, seq=seq, role="user", content=text, pasted_chars=pasted
        )


def _rows(study):
    return {
        r["recruiter_id"]: r for r in csv.DictReader(io.StringIO(approval.build(study).decode()))
    }


@pytest.fixture
def study():
    study = factories.StudyFactory(slug="recruited", no_consent_code="NOC")
    question = factories.QuestionFactory(study=study)
    start = timezone.now() - timedelta(hours=1)

    def participant(pid, **fields):
        return factories.ParticipantFactory(
            study=study, question=question, recruiter_pid=pid, consented_at=start, **fields
        )

    done = participant("P-done", step=Step.DONE, completion_code="AB12CD34EF")
    Participant.objects.filter(pk=done.pk).update(completed_at=start + timedelta(minutes=18))
    _say(done, "word " * 30, "more words " * 20)
    short = participant("P-short", step=Step.DONE, completion_code="ZZ")
    Participant.objects.filter(pk=short.pk).update(completed_at=start + timedelta(minutes=3))
    _say(short, "ok fine", "whatever")
    paster = participant("=HYPERLINK(1)", step=Step.INTERVIEW)
    _say(paster, "pasted " * 60, pasted=300)
    participant("P-gone", step=Step.INTERVIEW, abandoned_at=timezone.now())
    participant("P-test", step=Step.DONE, is_test=True)
    factories.ParticipantFactory(study=study, question=question)  # no recruiter id
    consent.consent_decline(study=study, recruiter_pid="P-no")
    return study


def test_it_lists_every_recruiter_id_with_its_status_and_code(study):
    rows = _rows(study)
    assert set(rows) == {"P-done", "P-short", "'=HYPERLINK(1)", "P-gone", "P-test", "P-no"}
    assert {k: r["status"] for k, r in rows.items()} == {
        "P-done": "completed",
        "P-short": "completed",
        "'=HYPERLINK(1)": "in_progress",
        "P-gone": "abandoned",
        "P-test": "test",
        "P-no": "screened_out",
    }
    assert rows["P-done"]["completion_code"] == "AB12CD34EF"
    assert rows["P-no"]["completion_code"] == "NOC"
    assert rows["P-done"]["minutes"] == "18.0" and rows["P-gone"]["minutes"] == ""


def test_it_flags_short_interviews_and_pasted_text(study):
    rows = _rows(study)
    assert rows["P-done"]["flags"] == "" and rows["P-done"]["interview_words"] == "70"
    assert rows["P-short"]["flags"] == "short_interview"
    assert rows["'=HYPERLINK(1)"]["flags"] == "pasted"  # and its formula made harmless
    assert rows["P-no"]["flags"] == "declined_consent"


def test_no_other_export_carries_recruiter_ids():
    from moralgraph.services.exports import FORMATS

    assert "approval" not in FORMATS  # not in jobs, the bundle or the API's formats
