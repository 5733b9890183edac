"""The vectors dedup compares: each pending card's (and each imported value's), embedded
once per embedding model, in batches, through the gateway (or the local embedding)."""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from elicitation import llm
from elicitation.llm import embeddings
from elicitation.models import Study, ValuesCard
from moralgraph import selectors
from moralgraph.models import Value

logger = logging.getLogger(__name__)

EMBED_BATCH = 64


def mark_failed(card_id: int, reason: str) -> None:
    """Leave a card out of the graph with the reason shown in the admin; the rest of the
    study goes on."""
    ValuesCard.objects.filter(pk=card_id, reconcile_status=ValuesCard.Reconcile.PENDING).update(
        reconcile_status=ValuesCard.Reconcile.FAILED,
        reconcile_error=reason[:2000],
        reconciled_at=timezone.now(),
    )
    logger.warning("card %s not reconciled: %s", card_id, reason)


def _text(obj) -> str:
    return embeddings.card_text(obj.title, obj.description, list(obj.policies or []))


def embed_cards(study: Study, cards: list[ValuesCard]) -> int:
    """Embed cards that have no vector yet, in batches; returns how many were embedded.

    Each card is written with a conditional UPDATE, so two passes over the same cards
    store one vector. A batch that fails permanently is retried card by card, and only
    the card that cannot be embedded is marked failed.
    """
    model = llm.embedding_model_name()
    # A vector from another model is not comparable with the study's: embed again.
    todo = [card for card in cards if card.embedded_at is None or card.embedding_model != model]
    stale = Q(embedded_at=None) | ~Q(embedding_model=model)
    done = 0
    for start in range(0, len(todo), EMBED_BATCH):
        batch = todo[start : start + EMBED_BATCH]
        try:
            vecs = llm.embed([_text(card) for card in batch], study=study)
        except llm.LLMError as error:
            if error.retryable:
                raise
            if len(batch) == 1:
                mark_failed(batch[0].pk, f"embedding failed: {error}")
            else:
                for card in batch:
                    done += embed_cards(study, [card])
            continue
        now = timezone.now()
        for card, vec in zip(batch, vecs, strict=True):
            blob = embeddings.to_bytes(vec)
            done += ValuesCard.objects.filter(stale, pk=card.pk).update(
                embedding=blob, embedding_model=model, embedded_at=now
            )
            card.embedding, card.embedding_model, card.embedded_at = blob, model, now
    return done


def ensure_value_embeddings(study: Study) -> int:
    """Embed active values that have no vector (imported ones), so new cards can match
    them."""
    missing = list(selectors.active_values(study).filter(embedding=None))
    if not missing:
        return 0
    vecs = llm.embed([_text(value) for value in missing], study=study)
    for value, vec in zip(missing, vecs, strict=True):
        Value.objects.filter(pk=value.pk, embedding=None).update(embedding=embeddings.to_bytes(vec))
    return len(missing)
