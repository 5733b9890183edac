"""services.about: the optional demographics."""

import pytest

from elicitation.models import Demographics, Participant
from elicitation.services import about, participants
from tests.helpers import fresh, make_study, start

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_demographics_are_all_optional_and_move_on():
    participant = start(make_study())
    about.demographics_save(participant=participant)
    assert Demographics.objects.get(participant=participant).political_affiliation == ""
    assert fresh(participant).step == Step.QUESTION


def test_demographics_twice_is_refused_as_a_step_mismatch():
    participant = start(make_study())
    about.demographics_save(participant=participant, political_affiliation="democrat")
    with pytest.raises(participants.StepMismatch):
        about.demographics_save(participant=participant, political_affiliation="republican")
    assert Demographics.objects.get(participant=participant).political_affiliation == "democrat"
