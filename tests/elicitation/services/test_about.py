"""services.about: the optional answers to the study's items."""

import pytest
from django.core.exceptions import ValidationError

from elicitation.models import Demographics, Participant
from elicitation.services import about, participants
from tests.helpers import fresh, make_study, start

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_demographics_are_all_optional_and_move_on():
    participant = start(make_study())
    about.demographics_save(participant=participant)
    assert Demographics.objects.get(participant=participant).answer("political_affiliation") == ""
    assert fresh(participant).step == Step.QUESTION


def test_demographics_twice_is_refused_as_a_step_mismatch():
    participant = start(make_study())
    about.demographics_save(participant=participant, answers={"political_affiliation": "democrat"})
    with pytest.raises(participants.StepMismatch):
        about.demographics_save(
            participant=participant, answers={"political_affiliation": "republican"}
        )
    demographics = Demographics.objects.get(participant=participant)
    assert demographics.answer("political_affiliation") == "democrat"


def test_blank_answers_are_not_stored_and_text_is_trimmed():
    participant = start(make_study())
    answers = {"age_band": "", "country": "  Chile ", "other": "x" * 3000}
    about.demographics_save(participant=participant, answers=answers)
    answers = Demographics.objects.get(participant=participant).answers
    assert answers["country"] == "Chile" and "age_band" not in answers
    assert len(answers["other"]) == 2000


@pytest.mark.parametrize(
    "answers", [{"political_affiliation": "martian"}, {"shoe_size": "42"}], ids=["choice", "key"]
)
def test_it_refuses_what_the_study_does_not_ask(answers):
    participant = start(make_study())
    with pytest.raises(ValidationError):
        about.demographics_save(participant=participant, answers=answers)
    assert not Demographics.objects.exists()
    assert fresh(participant).step == Step.ABOUT
