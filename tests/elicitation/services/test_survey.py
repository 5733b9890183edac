"""services.survey: the closing survey."""

import pytest
from django.core.exceptions import ValidationError

from elicitation.models import Participant, SurveyAnswer
from elicitation.services import survey
from tests.helpers import advance_to, fresh

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_the_survey_finishes_the_journey(selecting):
    participant = advance_to(selecting[0], Step.SURVEY)
    survey.survey_save(participant=participant, represented=5, trust=2, comment=" Thanks ")
    answer = SurveyAnswer.objects.get(participant=participant)
    assert (answer.represented, answer.clarified, answer.trust, answer.comment) == (
        5,
        None,
        2,
        "Thanks",
    )
    participant = fresh(participant)
    assert participant.step == Step.DONE and participant.completed_at


def test_survey_answers_stay_on_the_scale(selecting):
    participant = advance_to(selecting[0], Step.SURVEY)
    with pytest.raises(ValidationError):
        survey.survey_save(participant=participant, represented=6)


def test_the_papers_items_are_stored_and_asked_only_after_seeing_others(selecting):
    participant = advance_to(selecting[0], Step.SURVEY)
    survey.survey_save(participant=participant, learned=4, respect=5)
    answer = SurveyAnswer.objects.get(participant=participant)
    assert (answer.learned, answer.respect, answer.study_id) == (4, 5, participant.study_id)


def test_learned_and_respect_are_dropped_for_who_saw_no_one(selecting):
    participant = advance_to(selecting[0], Step.SURVEY)
    participant.impressions.all().delete()
    participant.judgments.all().delete()
    survey.survey_save(participant=participant, represented=3, learned=4, respect=5)
    answer = SurveyAnswer.objects.get(participant=participant)
    assert (answer.represented, answer.learned, answer.respect) == (3, None, None)
