"""Deduplication: cards into values through the judge, merges recorded, splits undone."""

import pytest
from django.utils import timezone

from elicitation import llm
from elicitation.models import LLMCall, ValuesCard, WiserJudgment
from moralgraph import dedup, locks, selectors, services
from moralgraph.models import CardMapping, UpgradeHypothesis, Value, ValueMerge
from tests.factories import (
    ContextFactory,
    InterviewFactory,
    ParticipantFactory,
    QuestionFactory,
    StudyFactory,
    UpgradeHypothesisFactory,
    ValuesCardFactory,
)

pytestmark = pytest.mark.django_db

AUTONOMY = (
    "Informed Autonomy",
    [
        "FEELINGS of being pressured that might cloud her judgement",
        "OPTIONS she has not yet considered",
        "PEOPLE who have faced the same choice",
    ],
)
AUTONOMY_AGAIN = (
    "Autonomy Informed",
    [
        "FEELINGS of pressure that could cloud her judgement",
        "OPTIONS she has not considered yet",
        "PEOPLE who faced the same choice before",
    ],
)
FAITH = (
    "Faithful Discernment",
    [
        "PRAYER and the guidance of her faith community",
        "SCRIPTURE passages that speak to her situation",
        "CONVERSATIONS with a pastor she trusts",
    ],
)
# Three cards where the judge calls A~C and B~C but not A~B: union-find joins all three.
BRIDGE_A = (
    "Careful Freedom",
    ["PRESSURE from family", "OPTIONS with doctors", "FAITH and future"],
)
BRIDGE_B = (
    "Careful Provision",
    ["FAITH and future", "FINANCES and timing", "SUPPORT from friends"],
)
BRIDGE_C = (
    "Careful Balance",
    ["OPTIONS with doctors", "FAITH and future", "FINANCES and timing"],
)


def submit(study, card, question=None):
    title, policies = card
    interview = InterviewFactory(
        participant=ParticipantFactory(study=study),
        question=question or study.questions.first() or QuestionFactory(study=study),
    )
    return ValuesCardFactory(
        interview=interview,
        title=title,
        policies=policies,
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now(),
    )


def place_all(study):
    stats = dedup.DedupStats()
    with locks.study_lock(study.pk):
        dedup.place_pending_cards(study, stats)
    return stats


def value_of(card):
    mapping = CardMapping.objects.get(card=card, undone_at=None)
    return selectors.root_of(mapping.value_id)


def own_value(card):
    """The value a card was given when it was placed, before any merge."""
    return CardMapping.objects.get(card=card, mapped_by="new").value_id


def state(study):
    """Everything dedup writes, in a comparable form."""
    return {
        "mappings": sorted(
            CardMapping.objects.filter(card__study=study, undone_at=None).values_list(
                "card_id", "value_id"
            )
        ),
        "active": sorted(
            Value.objects.filter(study=study, is_active=True).values_list("id", flat=True)
        ),
        "merges": sorted(
            ValueMerge.objects.filter(study=study).values_list("id", "undone_at", "card_ids")
        ),
        "cards": sorted(
            ValuesCard.objects.filter(study=study).values_list("id", "reconcile_status")
        ),
    }


def test_paraphrases_become_one_value_and_different_cards_stay_apart():
    study = StudyFactory()
    first, again, faith = (
        submit(study, AUTONOMY),
        submit(study, AUTONOMY_AGAIN),
        submit(study, FAITH),
    )

    stats = place_all(study)

    assert stats.placed == 3
    assert value_of(first) == value_of(again)
    assert value_of(faith) != value_of(first)
    assert Value.objects.filter(study=study, is_active=True).count() == 2
    merge = ValueMerge.objects.get(study=study)
    assert merge.card_ids == [again.pk]
    assert merge.decided_by == "llm"
    assert merge.model == "offline"
    assert merge.prompt_version == llm.load_prompt("moralgraph/dedup").version
    assert "same things" in merge.reason
    # The merged-away value stays as a record, out of the graph.
    assert merge.from_value.is_active is False
    # Each card has exactly one current mapping; the history keeps the first one.
    assert CardMapping.objects.filter(card=again).count() == 2
    assert CardMapping.objects.filter(card=again, undone_at=None).count() == 1
    for card in (first, again, faith):
        card.refresh_from_db()
        assert card.reconcile_status == ValuesCard.Reconcile.DONE
        assert card.embedding_model == llm.embedding_model_name()


def test_the_wording_of_a_value_is_one_of_its_cards():
    study = StudyFactory()
    cards = [submit(study, AUTONOMY), submit(study, AUTONOMY_AGAIN), submit(study, AUTONOMY)]
    place_all(study)

    (value,) = Value.objects.filter(study=study, is_active=True)
    assert value.wording_source == Value.Wording.CARD
    assert value.representative_card_id in {card.pk for card in cards}
    representative = value.representative_card
    assert (value.title, value.policies) == (representative.title, representative.policies)


def test_the_judge_is_asked_only_about_near_candidates(settings):
    settings.DEDUP_TOP_K = 2
    study = StudyFactory()
    for _ in range(4):
        submit(study, AUTONOMY_AGAIN)
    submit(study, FAITH)
    for _ in range(4):
        submit(study, AUTONOMY)

    stats = place_all(study)

    calls = LLMCall.objects.filter(study=study, stage="dedup").count()
    assert calls == stats.judge_calls
    assert calls <= 2 * 9
    # Nothing near the faith card: it cost no call at all.
    assert Value.objects.filter(study=study, is_active=True).count() == 2


def test_a_card_that_matches_two_values_unites_them():
    study = StudyFactory()
    a, b = submit(study, BRIDGE_A), submit(study, BRIDGE_B)
    place_all(study)
    assert value_of(a) != value_of(b)

    c = submit(study, BRIDGE_C)
    place_all(study)

    assert value_of(a) == value_of(b) == value_of(c)
    assert Value.objects.filter(study=study, is_active=True).count() == 1
    assert ValueMerge.objects.filter(study=study, undone_at=None).count() == 2


def test_merge_and_split_round_trip():
    study = StudyFactory()
    a, b = submit(study, BRIDGE_A), submit(study, BRIDGE_B)
    place_all(study)
    before = state(study)
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
    moved = services.split_merge(merge=merge)

    assert moved == [b.pk]
    assert value_of(b) == b_value
    assert Value.objects.get(pk=b_value).is_active
    merge.refresh_from_db()
    assert merge.undone_at is not None
    story.refresh_from_db()
    assert story.is_active is True
    study.refresh_from_db()
    assert study.graph_changed_at > changed  # scores recompute
    after = state(study)
    c_card = ValuesCard.objects.get(study=study, title=BRIDGE_C[0])
    assert [m for m in after["mappings"] if m[0] != c_card.pk] == before["mappings"]
    # Splitting again changes nothing.
    assert services.split_merge(merge=merge) == []
    assert state(study) == after


def test_a_split_pair_is_not_merged_again_by_a_later_card():
    study = StudyFactory()
    a, b = submit(study, BRIDGE_A), submit(study, BRIDGE_B)
    submit(study, BRIDGE_C)
    place_all(study)
    services.split_merge(merge=ValueMerge.objects.get(study=study, from_value_id=own_value(b)))

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
        dedup.merge_values(
            study=study, source=Value.objects.get(pk=root), target=holder, decided_by="admin"
        )
    assert value_of(b) == holder.pk

    services.split_merge(merge=first)

    assert value_of(b) == first.from_value_id
    assert value_of(a) == holder.pk


def test_a_permanent_llm_failure_marks_the_card_failed_and_the_rest_goes_on(monkeypatch):
    study = StudyFactory()
    first = submit(study, AUTONOMY)
    broken = submit(study, ("Broken Autonomy", AUTONOMY[1]))
    later = submit(study, AUTONOMY_AGAIN)
    real = llm.structured

    def structured(*, stage, prompt, payload, study=None):
        if stage == "dedup" and payload["a"]["title"] == "Broken Autonomy":
            raise llm.LLMError(
                "dedup call failed: BadRequestError: refused",
                stage=stage,
                model="x",
                retryable=False,
            )
        return real(stage=stage, prompt=prompt, payload=payload, study=study)

    monkeypatch.setattr(llm, "structured", structured)
    stats = place_all(study)

    broken.refresh_from_db()
    assert broken.reconcile_status == ValuesCard.Reconcile.FAILED
    assert "refused" in broken.reconcile_error
    assert not CardMapping.objects.filter(card=broken).exists()
    assert value_of(later) == value_of(first)
    assert stats.failed == 1 and stats.placed == 2


def test_a_transient_failure_keeps_the_card_pending_then_gives_up(monkeypatch, settings):
    settings.RECONCILE_MAX_ATTEMPTS = 2
    study = StudyFactory()
    submit(study, AUTONOMY)
    card = submit(study, AUTONOMY_AGAIN)
    place_all_first = ValuesCard.objects.filter(pk=card.pk)
    place_all_first.update(reconcile_status=ValuesCard.Reconcile.DONE)  # hold it back
    place_all(study)
    place_all_first.update(reconcile_status=ValuesCard.Reconcile.PENDING)

    def structured(**kwargs):
        raise llm.LLMError("timeout", stage="dedup", model="x", retryable=True)

    monkeypatch.setattr(llm, "structured", structured)
    for attempt in (1, 2):
        with pytest.raises(llm.LLMError):
            place_all(study)
        card.refresh_from_db()
        assert card.reconcile_status == ValuesCard.Reconcile.PENDING
        assert card.reconcile_attempts == attempt
        assert card.reconcile_error.startswith("will retry")

    place_all(study)
    card.refresh_from_db()
    assert card.reconcile_status == ValuesCard.Reconcile.FAILED
    assert card.reconcile_error.startswith("gave up after 2 attempts")


def test_an_invalid_card_is_left_out_with_a_reason():
    study = StudyFactory()
    card = submit(study, AUTONOMY)
    ValuesCard.objects.filter(pk=card.pk).update(quality=ValuesCard.Quality.INVALID)
    place_all(study)
    card.refresh_from_db()
    assert card.reconcile_status == ValuesCard.Reconcile.FAILED
    assert "invalid" in card.reconcile_error


def test_placing_twice_changes_nothing():
    study = StudyFactory()
    for card in (AUTONOMY, AUTONOMY_AGAIN, FAITH, BRIDGE_A, BRIDGE_B, BRIDGE_C):
        submit(study, card)
    place_all(study)
    first = state(study)
    calls = LLMCall.objects.count()

    stats = place_all(study)

    assert state(study) == first
    assert stats.placed == 0
    assert LLMCall.objects.count() == calls


def test_an_imported_value_without_cards_can_absorb_a_card():
    study = StudyFactory()
    imported = Value.objects.create(
        study=study,
        title=AUTONOMY[0],
        description="Helping someone see their options clearly so the choice is theirs.",
        policies=AUTONOMY[1],
        wording_source=Value.Wording.IMPORTED,
    )
    card = submit(study, AUTONOMY_AGAIN)
    place_all(study)
    assert value_of(card) == imported.pk
    imported.refresh_from_db()
    assert imported.title == AUTONOMY[0]  # imported wording is kept


def test_stories_of_a_merged_value_are_retired_not_deleted():
    study = StudyFactory()
    a, b = submit(study, AUTONOMY), submit(study, FAITH)
    place_all(study)
    context = ContextFactory(study=study)
    story = UpgradeHypothesisFactory(
        study=study, from_value_id=value_of(a), to_value_id=value_of(b), context=context
    )
    with locks.study_lock(study.pk):
        dedup.merge_values(
            study=study,
            source=Value.objects.get(pk=value_of(b)),
            target=Value.objects.get(pk=value_of(a)),
            decided_by="admin",
        )
    assert UpgradeHypothesis.objects.filter(pk=story.pk, is_active=False).exists()


def test_the_index_takes_the_size_of_the_first_vector_and_skips_strangers():
    index = dedup.ClusterIndex()
    index.add(("card", 1), 10, [1.0, 0.0, 0.0])
    index.add(("card", 2), 11, [0.0, 1.0, 0.0])
    index.add(("value", 12), 12, [1.0, 0.0])  # another model's vector
    assert len(index) == 2
    ((value_id, member, similarity),) = index.nearest([1.0, 0.1, 0.0], k=3, threshold=0.5)
    assert (value_id, member) == (10, ("card", 1))
    assert similarity == pytest.approx(0.995037, abs=1e-6)
    index.move(10, 11)
    both = index.nearest([1.0, 1.0, 0.0], k=3, threshold=0.5, per_value=2)
    assert [(c[0], c[1]) for c in both] == [(11, ("card", 1)), (11, ("card", 2))]
    assert len(index.nearest([1.0, 1.0, 0.0], k=3, threshold=0.5, per_value=1)) == 1


def test_a_card_embedded_by_another_model_is_embedded_again():
    study = StudyFactory()
    card = submit(study, AUTONOMY)
    ValuesCard.objects.filter(pk=card.pk).update(
        embedding=b"\0" * 8, embedding_model="old-model", embedded_at=timezone.now()
    )
    stats = place_all(study)
    card.refresh_from_db()
    assert stats.embedded == 1
    assert card.embedding_model == llm.embedding_model_name()
    assert len(card.embedding) == 4 * 256
