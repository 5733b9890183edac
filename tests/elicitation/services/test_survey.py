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
