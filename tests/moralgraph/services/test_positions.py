"""moralgraph.services.positions: where a participant's value sits in the scored graph."""

from datetime import timedelta

import pytest
from django.utils import timezone

from elicitation import selectors
from elicitation.models import Participant, ValuesCard
from moralgraph.models import GraphSnapshot, ValueMerge
from moralgraph.services import positions
from tests import factories
from tests.helpers import advance_to, make_study, own_value, start

pytestmark = pytest.mark.django_db
Step = Participant.Step


@pytest.fixture
def carded():
    """A participant with a submitted card about listening, and its value."""
    study = make_study(selection_enabled=False, judgments_enabled=False)
    participant = advance_to(start(study), Step.SURVEY)
    return participant, own_value(participant)


def test_value_position_reads_the_latest_snapshot(carded):
    participant, own = carded
    wiser, less = (
        factories.ValueFactory(study=participant.study),
        factories.ValueFactory(study=participant.study),
    )
    context = factories.ContextFactory(study=participant.study, text="When it matters")
    assert positions.value_position(participant) is None  # no snapshot yet
    GraphSnapshot.objects.create(
        study=participant.study,
        input_hash="h1",
        results={
            "contexts": [
                {
                    "context_id": str(context.pk),
                    "edges": [
                        {"from_id": str(own.pk), "to_id": str(wiser.pk), "kept": True},
                        {"from_id": str(less.pk), "to_id": str(own.pk), "kept": True},
                        {"from_id": str(own.pk), "to_id": "999999", "kept": False},
                    ],
                    "winner": {"value_id": str(own.pk)},
                }
            ]
        },
    )
    position = positions.value_position(participant)
    assert position.wiser == [wiser] and position.less_wise == [less]
    assert position.contexts_won == ["When it matters"]


def test_no_position_while_the_value_is_on_no_kept_edge(carded):
    participant, _ = carded
    GraphSnapshot.objects.create(study=participant.study, input_hash="h", results={})
    assert positions.value_position(participant) is None


def test_no_position_before_the_card_has_a_value():
    study = make_study(selection_enabled=False, judgments_enabled=False)
    participant = advance_to(start(study), Step.SURVEY)
    assert selectors.submitted_card(participant).status == ValuesCard.Status.SUBMITTED
    assert positions.value_position(participant) is None


def _snapshot(participant, own, wiser, *, input_hash, as_of=None, created_at=None):
    context = factories.ContextFactory(study=participant.study, text=f"When {input_hash}")
    return GraphSnapshot.objects.create(
        study=participant.study,
        input_hash=input_hash,
        as_of=as_of,
        created_at=created_at or timezone.now(),
        results={
            "contexts": [
                {
                    "context_id": str(context.pk),
                    "edges": [{"from_id": str(own.pk), "to_id": str(wiser.pk), "kept": True}],
                    "ranks": [{"value_id": str(wiser.pk)}, {"value_id": str(own.pk)}],
                    "winner": {"value_id": str(wiser.pk)},
                }
            ]
        },
    )


def test_the_done_page_and_the_follow_up_read_the_same_snapshot(carded):
    # A rerun "as of" an earlier day, made after the full scoring, is not the latest
    # graph: both pages read the full one (they used to disagree here).
    participant, own = carded
    full_wiser = factories.ValueFactory(study=participant.study, title="Full Graph Wiser")
    rerun_wiser = factories.ValueFactory(study=participant.study, title="Rerun Wiser")
    now = timezone.now()
    full = _snapshot(participant, own, full_wiser, input_hash="full", created_at=now)
    _snapshot(
        participant,
        own,
        rerun_wiser,
        input_hash="rerun",
        as_of=now - timedelta(days=3),
        created_at=now + timedelta(minutes=5),
    )
    assert positions.latest_snapshot(participant.study) == full
    assert positions.value_position(participant).wiser == [full_wiser]
    follow_up = positions.follow_up(participant)
    assert follow_up.snapshot == full
    [standing] = follow_up.standings
    assert standing.wiser == [full_wiser] and standing.rank == 2


def test_the_value_of_a_merged_card_is_its_surviving_root(carded):
    participant, own = carded
    survivor = factories.ValueFactory(study=participant.study)
    ValueMerge.objects.create(study=participant.study, from_value=own, into_value=survivor)
    assert positions.participant_value(participant) == survivor
