"""services.consent: declining."""

import pytest

from elicitation.models import ConsentDecline, Participant
from elicitation.selectors import counted_participants
from elicitation.services import consent
from tests.helpers import make_study

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_decline_stores_only_that_someone_declined():
    study = make_study()
    consent.consent_decline(study=study)
    assert ConsentDecline.objects.filter(study=study).count() == 1
    assert not Participant.objects.filter(study=study).exists()


def test_decline_with_a_recruiter_id_screens_out_that_id_only():
    study = make_study(no_consent_code="NOC")
    consent.consent_decline(study=study, recruiter_pid=" P1 ", recruiter_session_id="X")
    declined = Participant.objects.get(study=study)
    assert declined.recruiter_pid == "P1" and declined.screened_out_at is not None
    assert declined.screen_out_reason == consent.DECLINED
    assert declined.completion_code == "NOC"
    # Never counted: the one "counted" rule leaves screened-out participants out.
    assert not counted_participants(study).exists()


def test_decline_leaves_a_recruiter_id_that_already_took_part_as_it_was():
    study = make_study()
    started = Participant.objects.create(study=study, recruiter_pid="P1", step=Step.INTERVIEW)
    consent.consent_decline(study=study, recruiter_pid="P1")
    started.refresh_from_db()
    assert started.screened_out_at is None and started.step == Step.INTERVIEW
