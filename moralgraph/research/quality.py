"""The quality page of a study's dedup: the closest pairs of distinct values (missed
merges?) and the loosest merges (wrong merges?), both cards side by side, with a merge
or a split for each, the participants' own "same / different" checks beside each merge,
and the audit log of what researchers changed by hand. Viewers read it, analysts merge
and split (research/access.py); every form works without JavaScript, and with htmx the
lists swap in place.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.contrib import messages
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from elicitation.llm import embeddings
from elicitation.models import Study, ValuesCard
from moralgraph import selectors
from moralgraph.locks import StudyBusy
from moralgraph.models import AuditEntry, MergeCheck, Value, ValueMerge
from moralgraph.research.access import Role, study_role
from moralgraph.services import merges
from moralgraph.services.clusters import unit

SHOWN = 20
LOG = 50
# Rows of the similarity matrix computed at once: memory stays flat for large studies.
BLOCK = 512


# --- Selectors -----------------------------------------------------------------------


@dataclass
class ClosePair:
    """Two distinct values that may be one: ``source`` would merge into ``target`` (the
    one with more cards)."""

    source: Value
    target: Value
    similarity: float

    @property
    def sides(self) -> list[Value]:
        return [self.source, self.target]


@dataclass
class LooseMerge:
    merge: ValueMerge
    merged: Value  # the value that was merged away, as it was
    into: Value  # the value its cards count toward now
    similarity: float | None
    cards: list[ValuesCard] = field(default_factory=list)
    same: int = 0  # participants' checks
    different: int = 0
    rejected_by_author: bool = False

    @property
    def sides(self) -> list[Value]:
        return [self.merged, self.into]


def _cards_per_value(study: Study) -> dict[int, int]:
    return dict(
        selectors.active_values(study)
        .annotate(n=Count("mappings", filter=Q(mappings__undone_at=None)))
        .values_list("id", "n")
    )


def closest_pairs(study: Study, limit: int = SHOWN) -> list[ClosePair]:
    """The ``limit`` most similar pairs of the study's values, by their vectors; pairs a
    researcher split apart, and values a researcher hid (kept out of the graph, nothing
    to merge into or from), are left out."""
    values = [
        v for v in selectors.active_values(study) if v.embedding is not None and v.hidden_at is None
    ]
    vectors = [embeddings.from_bytes(v.embedding) for v in values]
    if len(values) < 2:
        return []
    size = Counter(len(v) for v in vectors).most_common(1)[0][0]
    keep = [i for i, v in enumerate(vectors) if len(v) == size]  # one embedding model
    values = [values[i] for i in keep]
    matrix = np.vstack([unit(vectors[i]) for i in keep])
    roots = selectors.value_roots(study)
    apart = {frozenset((roots.get(a, a), roots.get(b, b))) for a, b in selectors.split_pairs(study)}
    best: list[tuple[float, int, int]] = []
    for start in range(0, len(values), BLOCK):
        sims = np.round(matrix[start : start + BLOCK] @ matrix.T, 6)
        for offset, row in enumerate(sims):
            i = start + offset
            for j in np.argsort(-row[i + 1 :], kind="stable")[: limit + len(apart)] + i + 1:
                best.append((float(row[j]), i, int(j)))
        best = sorted(best, key=lambda t: (-t[0], t[1], t[2]))[: limit + len(apart)]
    cards = _cards_per_value(study)
    pairs = []
    for similarity, i, j in best:
        a, b = values[i], values[j]
        if frozenset((a.pk, b.pk)) in apart:
            continue
        # The smaller cluster moves into the larger (the older on a tie), as in dedup.
        target, source = sorted((a, b), key=lambda v: (-cards.get(v.pk, 0), v.pk))
        pairs.append(ClosePair(source, target, round(similarity, 4)))
    return pairs[:limit]


def loosest_merges(study: Study, limit: int = SHOWN) -> list[LooseMerge]:
    """The ``limit`` standing merges whose merged value is least like the value it joined,
    with participants' checks of them; a merge its card's author called "different" is
    flagged, and shown first."""
    roots = selectors.value_roots(study)
    rows = []
    for merge in ValueMerge.objects.filter(study=study, undone_at=None).select_related(
        "from_value"
    ):
        if merge.from_value is None:
            continue
        rows.append((merge, roots.get(merge.into_value_id, merge.into_value_id)))
    into = Value.objects.in_bulk({root for _, root in rows})
    found = [
        LooseMerge(merge, merge.from_value, into[root], _cosine(merge.from_value, into[root]))
        for merge, root in rows
    ]
    _add_checks(study, found)
    found.sort(
        key=lambda m: (
            not m.rejected_by_author,
            m.similarity if m.similarity is not None else -1.0,
            m.merge.pk,
        )
    )
    return found[:limit]


def _cosine(a: Value, b: Value) -> float | None:
    if a.embedding is None or b.embedding is None:
        return None
    va, vb = embeddings.from_bytes(a.embedding), embeddings.from_bytes(b.embedding)
    return round(float(unit(va) @ unit(vb)), 4) if va.shape == vb.shape else None


def _add_checks(study: Study, found: list[LooseMerge]) -> None:
    """Participants' "same / different" answers about each merge's cards."""
    card_ids = {pk for m in found for pk in m.merge.card_ids}
    cards = ValuesCard.objects.in_bulk(card_ids)
    checks = MergeCheck.objects.filter(study=study, card_id__in=card_ids)
    by_card: dict[int, list[MergeCheck]] = {}
    for check in checks:
        by_card.setdefault(check.card_id, []).append(check)
    for row in found:
        row.cards = [cards[pk] for pk in row.merge.card_ids if pk in cards]
        values = {row.merge.into_value_id, row.into.pk}
        for card in row.cards:
            for check in by_card.get(card.pk, []):
                if check.merge_id not in (None, row.merge.pk) or (
                    check.merge_id is None and check.value_id not in values
                ):
                    continue  # a check of another merge of the same card
                if check.answer == MergeCheck.Answer.SAME:
                    row.same += 1
                else:
                    row.different += 1
                    row.rejected_by_author |= check.participant_id == card.participant_id


def audit_log(study: Study, limit: int = LOG) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(study=study).select_related("actor")[:limit])


# --- Views ---------------------------------------------------------------------------


def _context(study: Study) -> dict:
    return {
        "study": study,
        "section": "quality",
        "pairs": closest_pairs(study),
        "loose": loosest_merges(study),
        "log": audit_log(study),
    }


@study_role(Role.VIEWER)
@vary_on_headers("HX-Request")
@require_GET
def quality(request, study):
    template = "research/quality.html#lists" if request.htmx else "research/quality.html"
    return render(request, template, _context(study))


def _done(request, study: Study, status: int = 200):
    """After a merge or a split: the lists again for htmx, else back to the page."""
    if request.htmx:
        return render(request, "research/quality.html#lists", _context(study), status=status)
    return redirect("research:quality", slug=study.slug)


def _reason(request, default: str) -> str:
    return request.POST.get("reason", "").strip()[:2000] or default


@study_role(Role.ANALYST)
@require_POST
def quality_merge(request, study):
    ids = [request.POST.get(name, "") for name in ("source", "target")]
    found = Value.objects.filter(study=study).in_bulk([int(i) for i in ids if i.isdigit()])
    if len(found) != 2 or not all(i.isdigit() for i in ids):
        messages.error(request, "Choose two values of this study to merge.")
        return _done(request, study, status=400)
    source, target = found[int(ids[0])], found[int(ids[1])]
    try:
        merges.merge_by_hand(
            study=study,
            source=source,
            target=target,
            actor=request.user,
            reason=_reason(request, "A close pair on the quality page: the same value."),
        )
    except StudyBusy:
        messages.error(request, "The study is being reconciled right now; try again in a minute.")
        return _done(request, study, status=409)
    except ValueError as error:
        messages.error(request, str(error).capitalize() + ".")
        return _done(request, study, status=400)
    messages.success(
        request, f"Merged “{source.title}” into “{target.title}”. The graph is rescored shortly."
    )
    return _done(request, study)


@study_role(Role.ANALYST)
@require_POST
def quality_split(request, study, merge_id):
    merge = get_object_or_404(ValueMerge, pk=merge_id, study=study)
    try:
        moved = merges.split_merge(
            merge=merge,
            actor=request.user,
            reason=_reason(request, "A loose merge on the quality page: different values."),
        )
    except StudyBusy:
        messages.error(request, "The study is being reconciled right now; try again in a minute.")
        return _done(request, study, status=409)
    if moved:
        messages.success(
            request, f"Split: {len(moved)} card(s) back in their own value. Rescoring follows."
        )
    else:
        messages.info(request, "That merge was already undone.")
    return _done(request, study)


urlpatterns = [
    path("", quality, name="quality"),
    path("merge/", quality_merge, name="quality_merge"),
    path("merges/<int:merge_id>/split/", quality_split, name="quality_split"),
]
