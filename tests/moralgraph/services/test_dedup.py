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
        titles = [card["title"] for card in payload.get("cards", [])]
        if stage == "dedup" and "Broken Autonomy" in titles:
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


# --- Calls: none without a candidate, one per card (or per batch) with many -------------


def _spy(monkeypatch):
    """The payloads the dedup judge is sent, in order."""
    sent = []
    real = llm.structured

    def structured(*, stage, prompt, payload, study=None):
        if stage == "dedup":
            sent.append(payload)
        return real(stage=stage, prompt=prompt, payload=payload, study=study)

    monkeypatch.setattr(llm, "structured", structured)
    return sent


def _own(study, card, description):
    """A card with a description of its own (the factory gives every card the same one)."""
    made = submit(study, card)
    ValuesCard.objects.filter(pk=made.pk).update(description=description)
    return made


def _apart(monkeypatch):
    """A judge that keeps every card apart."""

    def structured(*, stage, prompt, payload, study=None):
        return {
            "decisions": [{"card": c["id"], "same_as": [], "reason": ""} for c in payload["cards"]]
        }

    monkeypatch.setattr(llm, "structured", structured)


# Nothing like the autonomy cards, not even their little words (cosine 0.01).
MONEY = ("Tidy Accounts", ["INVOICES overdue", "RECEIPTS filed monthly", "SAVINGS goals"])


def test_a_card_with_no_candidate_costs_no_call(monkeypatch):
    study = StudyFactory()
    _own(study, AUTONOMY, "Helping her see her options clearly, so the choice is hers.")
    place_all(study)
    sent = _spy(monkeypatch)

    money = _own(study, MONEY, "Tracking household money.")
    stats = place_all(study)

    assert sent == []
    assert stats.judge_calls == 0
    assert LLMCall.objects.filter(study=study, stage="dedup").count() == 0
    assert stats.placed == 1 and stats.new_values == 1
    assert CardMapping.objects.get(card=money, undone_at=None).mapped_by == "new"


VARIANTS = [
    (
        f"Variant {word.title()}",
        [
            "FEELINGS of being pressured that might cloud her judgement",
            f"{word.upper()} and what it asks of her",
            f"{other.upper()} she keeps to herself",
        ],
    )
    for word, other in [
        ("money", "diaries"),
        ("career", "gardens"),
        ("health", "letters"),
        ("school", "songs"),
        ("travel", "recipes"),
        ("housing", "poems"),
        ("friends", "photos"),
    ]
]


def test_a_card_with_many_candidates_costs_one_call(monkeypatch, settings):
    settings.DEDUP_BATCH_CARDS = 1
    study = StudyFactory()
    _apart(monkeypatch)
    for card in VARIANTS:
        submit(study, card)
    place_all(study)
    assert Value.objects.filter(study=study, is_active=True).count() == len(VARIANTS)
    monkeypatch.undo()
    sent = _spy(monkeypatch)
    before = LLMCall.objects.filter(study=study, stage="dedup").count()

    card = submit(study, AUTONOMY)
    stats = place_all(study)

    assert stats.judge_calls == 1
    assert LLMCall.objects.filter(study=study, stage="dedup").count() == before + 1
    ((payload,),) = [sent]
    (shown,) = payload["cards"]
    assert shown["title"] == AUTONOMY[0]
    # Every variant shares the card's first policy: all of them were shown, in one call.
    assert len(shown["candidates"]) == len(VARIANTS) == len(payload["values"])
    assert value_of(card) not in {value_of(c) for c in ValuesCard.objects.exclude(pk=card.pk)}


def test_no_more_than_top_k_candidates_are_shown(monkeypatch, settings):
    settings.DEDUP_BATCH_CARDS = 1
    settings.DEDUP_TOP_K = 3
    study = StudyFactory()
    _apart(monkeypatch)
    for card in VARIANTS:
        submit(study, card)
    place_all(study)
    monkeypatch.undo()
    sent = _spy(monkeypatch)

    submit(study, AUTONOMY)
    place_all(study)

    assert len(sent) == 1 and len(sent[0]["cards"][0]["candidates"]) == 3


def test_cards_that_arrive_together_share_one_call(monkeypatch):
    study = StudyFactory()
    first = submit(study, AUTONOMY)
    place_all(study)
    sent = _spy(monkeypatch)

    again = [
        submit(study, AUTONOMY_AGAIN),
        submit(study, AUTONOMY),
        _own(study, MONEY, "Tracking household money."),
    ]
    stats = place_all(study)

    assert stats.judge_calls == 1 and len(sent) == 1
    # The money card has no candidate: it rides along without being asked about.
    assert [c["title"] for c in sent[0]["cards"]] == [AUTONOMY_AGAIN[0], AUTONOMY[0]]
    assert value_of(again[0]) == value_of(again[1]) == value_of(first)
    assert value_of(again[2]) != value_of(first)


def test_a_card_may_be_the_same_as_an_earlier_card_of_its_batch(monkeypatch):
    study = StudyFactory()
    sent = _spy(monkeypatch)
    first, second = submit(study, AUTONOMY), submit(study, AUTONOMY_AGAIN)

    stats = place_all(study)

    # The first card had nothing to be compared with; the second was compared with it.
    assert len(sent) == 1 and [c["title"] for c in sent[0]["cards"]] == [AUTONOMY_AGAIN[0]]
    assert value_of(first) == value_of(second)
    assert stats.merges == 1 and stats.new_values == 1
    merge = ValueMerge.objects.get(study=study)
    assert merge.card_ids == [second.pk]
    assert merge.reason.startswith(f"Same as card {first.pk}:")


def test_the_judge_may_pick_only_among_the_cards_own_candidates(monkeypatch):
    study = StudyFactory()
    first, faith = submit(study, AUTONOMY), submit(study, FAITH)
    place_all(study)

    def structured(*, stage, prompt, payload, study=None):
        # Claims the card is the same as a value it was not shown, and as "v1".
        return {"decisions": [{"card": "c1", "same_as": ["v1", "v99"], "reason": "r"}]}

    monkeypatch.setattr(llm, "structured", structured)
    again = submit(study, AUTONOMY_AGAIN)
    place_all(study)

    assert value_of(again) == value_of(first) != value_of(faith)
    assert ValueMerge.objects.filter(study=study).count() == 1
