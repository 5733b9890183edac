"""The LLM pre-screen of cards (offline provider): obvious junk is flagged with a reason,
a sincere card is not, nothing is ever hidden, and a flagged card is not asked twice."""

import pytest
from django.utils import timezone

from elicitation.llm.offline import screen
from elicitation.models import LLMCall, Message, ValuesCard
from moralgraph import tasks
from moralgraph.services import screening
from tests.factories import (
    InterviewFactory,
    ParticipantFactory,
    QuestionFactory,
    StudyFactory,
    ValuesCardFactory,
)

pytestmark = pytest.mark.django_db

QUESTION = "My friend is grieving her father. What should I tell her?"
SAID = "I would listen first, then ask what she needs. Grief takes time and presence."
SINCERE = (
    "Patient Presence",
    "Staying with someone in their grief without rushing to fix it.",
    ["MOMENTS when she wants to talk about her father", "SILENCE that gives grief room"],
)


def _card(title, description, policies, *, said=SAID):
    study = StudyFactory()
    question = QuestionFactory(study=study, text=QUESTION)
    interview = InterviewFactory(participant=ParticipantFactory(study=study), question=question)
    Message.objects.create(interview=interview, seq=1, role="user", content=said)
    return ValuesCardFactory(
        interview=interview,
        title=title,
        description=description,
        policies=policies,
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now(),
    )


def test_a_sincere_card_is_not_flagged():
    card = _card(*SINCERE)
    assert screening.screen_card(card_id=card.pk) is None
    card.refresh_from_db()
    assert card.screen_flag == ""
    assert LLMCall.objects.filter(stage="screen").count() == 1


@pytest.mark.parametrize(
    ("title", "description", "policies", "expected"),
    [
        ("Lol", "lol", ["x"], "Very short"),
        (
            "Funny Answer",
            "Haha this whole study is a joke honestly, just kidding",
            ["THINGS that are funny", "MEMES about grief"],
            "Joke or test markers",
        ),
        (
            "Aaaaa Bbbb",
            "aaaaaaa sdfsdf aaaaaaa sdfsdf more words here please",
            ["KEYS pressed", "WORDS typed fast"],
            "keyboard mashing",
        ),
        (
            "Football Tactics",
            "Pressing high with a compact midfield wins matches.",
            ["FORMATIONS like four four two", "STRIKERS who track back"],
            "Off-topic",
        ),
    ],
)
def test_obvious_junk_is_flagged_with_its_reason(title, description, policies, expected):
    card = _card(title, description, policies)
    flag = tasks.screen_card.apply(args=[card.pk]).get()
    assert expected in flag
    card.refresh_from_db()
    assert card.screen_flag == flag
    assert card.hidden_at is None  # the pre-screen never hides


def test_a_flagged_or_hidden_card_is_not_asked_again():
    card = _card("Lol", "lol", ["x"])
    screening.screen_card(card_id=card.pk)
    assert screening.screen_card(card_id=card.pk) is None
    hidden = _card("Lol", "lol", ["x"])
    ValuesCard.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now(), hidden_reason="joke")
    assert screening.screen_card(card_id=hidden.pk) is None
    assert LLMCall.objects.filter(stage="screen").count() == 1


def test_the_offline_handler_needs_no_question_or_interview():
    reply = screen._junk("Patient presence in grief and loss and time", "", "")
    assert reply is None
