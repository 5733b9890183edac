"""services.participants: starting, resuming, question assignment, the steps a study runs."""

import pytest

from elicitation import selectors
from elicitation.models import Participant
from elicitation.services import card, participants
from tests import factories
from tests.helpers import advance_to, fresh, make_study, start

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_start_creates_a_consented_participant_on_the_first_step():
    study = make_study()
    participant = participants.participant_start(
        study=study,
        session_key="abc",
        recruiter_pid="P1",
        recruiter_study_id="S1",
        recruiter_session_id="X1",
    )
    assert participant.step == Step.ABOUT
    assert participant.consented_at is not None
    assert (participant.recruiter_pid, participant.recruiter_study_id) == ("P1", "S1")
    assert participant.question is not None


def test_the_same_recruiter_id_never_makes_a_second_participant():
    study = make_study()
    first = start(study, pid="P1", session_key="one")
    again = start(study, pid="P1", session_key="two")
    assert again.pk == first.pk
    assert fresh(first).session_key == "two"
    assert Participant.objects.filter(study=study).count() == 1


def test_the_same_session_without_recruiter_id_is_the_same_participant():
    study = make_study()
    assert start(study, session_key="s").pk == start(study, session_key="s").pk
    assert start(study, session_key="other").pk != start(study, session_key="s").pk


def test_questions_are_assigned_least_filled_first():
    study = make_study()
    factories.QuestionFactory(study=study, key="second", position=1)
    factories.QuestionFactory(study=study, key="third", position=2)
    keys = [start(study, session_key=f"s{i}").question.key for i in range(6)]
    assert sorted(keys) == sorted(["main", "second", "third"] * 2)
    assert keys[:3] == ["main", "second", "third"]


def test_a_study_without_questions_cannot_start():
    study = factories.StudyFactory()
    with pytest.raises(participants.JourneyError):
        start(study)


def test_start_skips_steps_the_study_turned_off():
    study = make_study(demographics_enabled=False)
    assert start(study).step == Step.QUESTION


# --- Entering a drawn step -----------------------------------------------------------------


def test_a_drawn_step_with_nothing_drawn_is_skipped(monkeypatch):
    from elicitation import journey

    calls = []

    def draw_nothing(participant):
        calls.append(participant.step)
        return False

    monkeypatch.setitem(journey._drawers, Step.SELECTION, draw_nothing)
    monkeypatch.setitem(journey._drawers, Step.JUDGMENTS, lambda participant: True)
    participant = advance_to(start(make_study()), Step.CARD)
    draft = selectors.draft_card(participant)
    card.card_submit(
        participant=participant,
        title=draft.title,
        description=draft.description,
        policies=draft.policies,
    )
    # The selection drawer was asked (while the participant was still on the card) and
    # drew nothing: the participant lands on the judgments, whose drawer drew something.
    assert calls == [Step.CARD]
    assert fresh(participant).step == Step.JUDGMENTS


def test_a_drawn_step_with_something_drawn_is_entered(monkeypatch):
    from elicitation import journey

    monkeypatch.setitem(journey._drawers, Step.SELECTION, lambda participant: True)
    participant = advance_to(start(make_study()), Step.CARD)
    draft = selectors.draft_card(participant)
    card.card_submit(
        participant=participant,
        title=draft.title,
        description=draft.description,
        policies=draft.policies,
    )
    assert fresh(participant).step == Step.SELECTION
