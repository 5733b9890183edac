"""A dry run of dedup: what a pass would ask the judge about the study's pending cards,
with nothing written (``manage.py dedup --dry-run``).

The batches are formed as a real pass forms them. A pending card with no vector of the
current model is embedded in memory only (with ``EMBEDDING_MODEL`` set that is a logged
call); an imported value with no vector is not embedded, so it is not a candidate here.
With a judge, each batch is asked for real (logged calls, which cost money), and its
decisions are shown; still no card is placed and no merge made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from elicitation import llm
from elicitation.llm import embeddings
from elicitation.models import Study, ValuesCard
from moralgraph import selectors
from moralgraph.services.dedup import Batch, DedupStats
from moralgraph.services.dedup_judge import Judge, Verdict
from moralgraph.services.retrieval import Candidate, HybridIndex


@dataclass
class CardPreview:
    card: ValuesCard
    batch: int  # which call it would be judged in (numbered from 1), if it has candidates
    candidates: list[Candidate] = field(default_factory=list)
    shown: list = field(default_factory=list)  # each candidate's wording
    verdict: Verdict | None = None


@dataclass
class Preview:
    cards: list[CardPreview] = field(default_factory=list)
    calls: int = 0  # judge calls a pass would make
    errors: list[str] = field(default_factory=list)


def preview_pending_cards(study: Study, *, judge: Judge | None = None) -> Preview:
    index = HybridIndex.load(study)
    stats = DedupStats()
    model = llm.embedding_model_name()
    pending = [
        card
        for card in selectors.pending_cards(study)
        if card.quality != ValuesCard.Quality.INVALID  # a pass leaves these out
    ]
    stale = [c for c in pending if c.embedded_at is None or c.embedding_model != model]
    texts = [embeddings.card_text(c.title, c.description, list(c.policies or [])) for c in stale]
    for card, vector in zip(stale, llm.embed(texts, study=study) if texts else [], strict=True):
        card.embedding = embeddings.to_bytes(vector)  # in memory only
    batches = [Batch(index, stats)]
    for card in pending:
        item = batches[-1].retrieve(card)
        if not batches[-1].fits(item):
            batches.append(Batch(index, stats))
            item = batches[-1].retrieve(card)
        batches[-1].add(item)

    preview = Preview()
    for batch in batches:
        asked = batch.asked()
        number = preview.calls + 1 if asked else 0
        preview.calls += bool(asked)
        verdicts = {}
        if asked and judge is not None:
            try:
                verdicts = judge(study, asked)
            except llm.LLMError as error:
                preview.errors.append(f"call {number}: {error}")
        for item in batch.items:
            preview.cards.append(
                CardPreview(
                    card=item.card,
                    batch=number if item.candidates else 0,
                    candidates=item.candidates,
                    shown=item.shown,
                    verdict=verdicts.get(item.card.pk),
                )
            )
    return preview
