"""Merging values and splitting a merge: cards move, stories retire and return, scores follow."""

import pytest

from elicitation.models import ValuesCard, WiserJudgment
from moralgraph import locks, selectors
from moralgraph.models import UpgradeHypothesis, Value, ValueMerge
from moralgraph.services import merges, reconcile
from tests.factories import (
    ContextFactory,
    ParticipantFactory,
    StudyFactory,
    UpgradeHypothesisFactory,
)
from tests.moralgraph.support import (
    AUTONOMY,
    AUTONOMY_AGAIN,
    BRIDGE_A,
    BRIDGE_B,
    BRIDGE_C,
    CARDS,
    FAITH,
    dedup_state,
    make_study,
    own_value,
    place_all,
    submit,
    value_of,
)

pytestmark = pytest.mark.django_db


def test_merge_and_split_round_trip():
    study = StudyFactory()
    a, b = submit(study, BRIDGE_A), submit(study, BRIDGE_B)
    place_all(study)
    before = dedup_state(study)
    b_value = value_of(b)
    other = Value.objects.get(pk=value_of(a))
    context = ContextFactory(study=study)
    story = UpgradeHypothesisFactory(
        study=study, from_value_id=b_value, to_value=other, context=context
    )
    WiserJudgment.objects.create(
        participant=ParticipantFactory(study=study),
        hypothesis=story,
        pair_key=WiserJudgment.make_pair_key(b_value, other.pk),
        verdict="upgrade",
    )

    submit(study, BRIDGE_C)
    place_all(study)
    merge = ValueMerge.objects.get(study=study, from_value_id=b_value)
    story.refresh_from_db()
    assert story.is_active is False  # retired, never deleted
    study.refresh_from_db()
    assert study.graph_changed_at is not None  # a judged value was merged

    changed = study.graph_changed_at
    moved = merges.split_merge(merge=merge)

    assert moved == [b.pk]
    assert value_of(b) == b_value
    assert Value.objects.get(pk=b_value).is_active
    merge.refresh_from_db()
    assert merge.undone_at is not None
    story.refresh_from_db()
    assert story.is_active is True
    study.refresh_from_db()
    assert study.graph_changed_at > changed  # scores recompute
    after = dedup_state(study)
    c_card = ValuesCard.objects.get(study=study, title=BRIDGE_C[0])
    assert [m for m in after["mappings"] if m[0] != c_card.pk] == before["mappings"]
    # Splitting again changes nothing.
    assert merges.split_merge(merge=merge) == []
    assert dedup_state(study) == after


def test_a_split_pair_is_not_merged_again_by_a_later_card():
    study = StudyFactory()
    a, b = submit(study, BRIDGE_A), submit(study, BRIDGE_B)
    submit(study, BRIDGE_C)
    place_all(study)
    merges.split_merge(merge=ValueMerge.objects.get(study=study, from_value_id=own_value(b)))

    submit(study, BRIDGE_C)
    place_all(study)

    assert value_of(a) != value_of(b)


def test_a_split_cascades_through_a_later_merge():
    """b joined a, then a's cluster joined another: splitting b's merge still frees b."""
    study = StudyFactory()
    a, b = submit(study, AUTONOMY), submit(study, AUTONOMY_AGAIN)
    place_all(study)
    first = ValueMerge.objects.get(study=study)
    root = selectors.root_of(first.into_value_id)
    holder = Value.objects.create(study=study, title="Holder", description="x")
    with locks.study_lock(study.pk):
        merges.merge_values(
            study=study, source=Value.objects.get(pk=root), target=holder, decided_by="admin"
        )
    assert value_of(b) == holder.pk

    merges.split_merge(merge=first)

    assert value_of(b) == first.from_value_id
    assert value_of(a) == holder.pk


def test_stories_of_a_merged_value_are_retired_not_deleted():
    study = StudyFactory()
    a, b = submit(study, AUTONOMY), submit(study, FAITH)
    place_all(study)
    context = ContextFactory(study=study)
    story = UpgradeHypothesisFactory(
        study=study, from_value_id=value_of(a), to_value_id=value_of(b), context=context
    )
    with locks.study_lock(study.pk):
        merges.merge_values(
            study=study,
            source=Value.objects.get(pk=value_of(b)),
            target=Value.objects.get(pk=value_of(a)),
            decided_by="admin",
        )
    assert UpgradeHypothesis.objects.filter(pk=story.pk, is_active=False).exists()


def test_a_split_schedules_scoring(django_capture_on_commit_callbacks, queued, settings):
    settings.SCORE_DEBOUNCE_SECONDS = 30
    study = make_study(CARDS[:2])
    reconcile.reconcile_study(study=study)
    merge = ValueMerge.objects.get(study=study)

    with django_capture_on_commit_callbacks(execute=True):
        merges.split_merge(merge=merge)

    assert queued == [("moralgraph.tasks.score_study", (study.pk,), 30)]
    study.refresh_from_db()
    assert study.graph_changed_at is not None
