"""Deduplication: cards into values through the judge, merges recorded, failures kept apart."""

import pytest
from django.utils import timezone

from elicitation import llm
from elicitation.models import LLMCall, ValuesCard
from moralgraph.models import CardMapping, Value, ValueMerge
from tests.factories import (
    StudyFactory,
)
from tests.moralgraph.support import (
    AUTONOMY,
    AUTONOMY_AGAIN,
    BRIDGE_A,
    BRIDGE_B,
    BRIDGE_C,
    FAITH,
    dedup_state,
    place_all,
    submit,
    value_of,
)

pytestmark = pytest.mark.django_db


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
    first = dedup_state(study)
    calls = LLMCall.objects.count()

    stats = place_all(study)

    assert dedup_state(study) == first
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
