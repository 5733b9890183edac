"""The participant side of a study: who took part, what they said, what they chose.

Nouns follow the method (see MGE.md): a Study asks Questions; a Participant is
interviewed (Interview, Message) and articulates a ValuesCard; then sees Values
(Impression), picks the wise ones (Selection) and judges upgrade stories
(WiserJudgment). The canonical Values, Contexts and stories live in moralgraph.
One module per step; this face hands every model on, so `elicitation.models.X` works.
"""

# The LLM call log is defined with the gateway that writes it; imported here so that
# Django registers it in this app.
from elicitation.llm.models import LLMCall
from elicitation.models.card import ValuesCard
from elicitation.models.interview import Interview, LLMRequest, Message
from elicitation.models.judgments import Impression, JudgmentAssignment, Selection, WiserJudgment
from elicitation.models.participant import (
    ConsentDecline,
    DemographicItem,
    Demographics,
    Participant,
)
from elicitation.models.resume import ResumeAttempt
from elicitation.models.study import Moderation, Question, Study, StudyMember
from elicitation.models.survey import SURVEY_ITEMS, SurveyAnswer, SurveyItem
from elicitation.models.worker import WorkerHeartbeat

__all__ = [
    "ConsentDecline",
    "DemographicItem",
    "Demographics",
    "Impression",
    "Interview",
    "JudgmentAssignment",
    "LLMCall",
    "LLMRequest",
    "Message",
    "Moderation",
    "Participant",
    "Question",
    "ResumeAttempt",
    "Selection",
    "Study",
    "StudyMember",
    "SURVEY_ITEMS",
    "SurveyAnswer",
    "SurveyItem",
    "ValuesCard",
    "WiserJudgment",
    "WorkerHeartbeat",
]
