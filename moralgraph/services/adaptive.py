"""Adaptive elicitation on a live study: what scoring leaves for the draw, the stopping
rule, stories on demand, and the projection the researcher sees.

README: "Adaptive elicitation". The policy itself is pure (moralgraph.graph.adaptive);
this module reads and writes rows around it:

- at scoring time (``scored_extras``), the snapshot gets two more keys: ``fits``, every
  context's fit without its replicates, keyed by the context's input hash (so a worker
  in another process refits only contexts whose judgments changed), and ``adaptive``,
  per context its status, winner, how many scorings in a row it has been confident with
  that winner (``streak``), whether it is ``settled``, the replicates' top-two shares the
  draw samples from, and the pairs it ``wanted`` (leader against likeliest challengers).
  Both are written in the same INSERT as the rest of the snapshot, so the draw, which
  reads only ``GraphSnapshot.latest_for``, never sees a half-written one. They are not
  in the input hash: ``streak`` is history, not input.
- after a new snapshot (``after_scoring``): reconciliation is queued when a context that
  is not settled wants a pair without a story (hypotheses.plan_stories writes those first,
  within the story budget), and a study that closes when settled moves to ``closing``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from elicitation.models import Study
from elicitation.queue import enqueue_on_commit
from elicitation.selectors import forget_study
from moralgraph import selectors
from moralgraph.graph.adaptive import ContextState, is_settled, next_streak
from moralgraph.graph.pairwise import ContextFit, as_plain, fit_from_plain
from moralgraph.graph.payload import AdaptiveState
from moralgraph.graph.status import CONFIDENT, INSUFFICIENT
from moralgraph.models import AuditEntry, GraphSnapshot, UpgradeHypothesis

logger = logging.getLogger(__name__)

# A context wants stories for its top-two pairs with at least this share of replicates
# (at most WANTED_PAIRS of them), beside the pairs its estimate of judgments names.
WANTED_SHARE = 0.05
WANTED_PAIRS = 3


# ---------------------------------------------------------------------------------------
# At scoring time
# ---------------------------------------------------------------------------------------


def cached_fits(snapshot: GraphSnapshot | None) -> dict[str, ContextFit]:
    """The fits a snapshot kept (context id -> fit), to refit only changed contexts."""
    if snapshot is None:
        return {}
    fits = {}
    for context_id, data in (snapshot.results.get("fits") or {}).items():
        try:
            fits[context_id] = fit_from_plain(data)
        except (KeyError, TypeError, ValueError):
            continue  # written by another version: refit
    return fits


def scored_extras(
    study: Study, result: Mapping[str, Any], fits: Mapping[str, ContextFit], previous
) -> dict[str, Any]:
    """The ``fits`` and ``adaptive`` keys of a new snapshot's results (module docstring).

    ``previous`` is the study's latest snapshot before this one (None for the first, or
    for a cut-off run, whose streaks start afresh)."""
    before = previous.payload.adaptive if previous else {}
    contexts = {}
    for scored in result.get("contexts", []):
        context_id = str(scored["context_id"])
        fit = fits.get(context_id)
        status = scored.get("status") or INSUFFICIENT
        winner = (scored.get("winner") or {}).get("value_id")
        streak = next_streak(before.get(context_id), status, winner)
        duels = [list(d) for d in fit.duels] if fit is not None else []
        contexts[context_id] = {
            "status": status,
            "winner": winner,
            "streak": streak,
            "settled": is_settled(streak, study.stable_rescorings),
            "judgments": fit.judgments if fit is not None else 0,
            "needed": (scored.get("needed") or {}).get("judgments"),
            "duels": duels,
            "wanted": _wanted(duels, (scored.get("needed") or {}).get("pairs", [])),
        }
    return {
        "fits": {context_id: as_plain(fit) for context_id, fit in fits.items()},
        "adaptive": {"stable_rescorings": study.stable_rescorings, "contexts": contexts},
    }


def _wanted(duels: list[list], needed_pairs: list) -> list[list[str]]:
    top = sorted((d for d in duels if d[2] >= WANTED_SHARE), key=lambda d: (-d[2], d[0], d[1]))
    wanted: list[list[str]] = []
    for a, b, *_ in [*top[:WANTED_PAIRS], *needed_pairs]:
        pair = sorted((str(a), str(b)))
        if pair not in wanted:
            wanted.append(pair)
    return wanted


# ---------------------------------------------------------------------------------------
# What the draw reads
# ---------------------------------------------------------------------------------------


# (snapshot id, input hash) -> its context states. A snapshot's results are written once
# and never changed, and every participant's judgments draw reads the states of the
# latest: each draw asks only which snapshot that is, and the process reads and parses
# its results (every context's fit and replicates: large in a large study) once.
_STATES: dict[tuple[int, str], dict[str, ContextState]] = {}
_STATES_KEPT = 16


def context_states(study: Study) -> dict[str, ContextState]:
    """Per canonical context id (a string), its state at the latest scoring (read-only:
    shared by every draw of this process)."""
    key = GraphSnapshot.latest_key_for(study)
    if key is None:
        return {}
    states = _STATES.get(key)
    if states is None:
        snapshot = GraphSnapshot.objects.only("results").get(pk=key[0])
        states = {
            context_id: ContextState(
                context_id, state.status or INSUFFICIENT, state.settled, state.duels
            )
            for context_id, state in snapshot.payload.adaptive.items()
        }
        if len(_STATES) >= _STATES_KEPT:
            _STATES.pop(next(iter(_STATES)), None)  # the oldest kept
        _STATES[key] = states
    return states


def wanted_pairs(snapshot: GraphSnapshot | None) -> dict[str, list[tuple[str, str]]]:
    """Per context that is not settled nor confident, the pairs it wants judged."""
    if snapshot is None:
        return {}
    return {
        context_id: list(state.wanted)
        for context_id, state in snapshot.payload.adaptive.items()
        if not state.settled and state.status != CONFIDENT
    }


# ---------------------------------------------------------------------------------------
# After a new snapshot
# ---------------------------------------------------------------------------------------


def after_scoring(*, study: Study, snapshot: GraphSnapshot) -> None:
    """Queue the stories wanted and close a settled study that asks for it."""
    if missing_stories(study, snapshot):
        enqueue_on_commit("moralgraph.tasks.reconcile_study", study.pk)
    close_if_settled(study=study, snapshot=snapshot)


def missing_stories(study: Study, snapshot: GraphSnapshot) -> list[tuple[int, int, int]]:
    """(context, value, value) wanted by a context that is not settled, without a story in
    either direction in that context."""
    wanted = wanted_pairs(snapshot)
    if not wanted:
        return []
    ids = [int(c) for c in wanted if c.isdigit()]
    have = {
        (c, min(a, b), max(a, b))
        for c, a, b in UpgradeHypothesis.objects.filter(
            study=study, context_id__in=ids
        ).values_list("context_id", "from_value_id", "to_value_id")
    }
    missing = []
    for context_id, pairs in sorted(wanted.items()):
        for a, b in pairs:
            if not (context_id.isdigit() and a.isdigit() and b.isdigit()):
                continue
            key = (int(context_id), min(int(a), int(b)), max(int(a), int(b)))
            if key not in have:
                missing.append(key)
    return missing


@dataclass(frozen=True)
class QuestionProgress:
    question_id: int
    key: str
    title: str
    contexts: tuple[ContextProjection, ...]

    @property
    def settled(self) -> bool:
        return bool(self.contexts) and all(c.settled for c in self.contexts)

    @property
    def participants(self) -> int | None:
        """Participants of this question still needed to settle all its contexts (each of
        them judges ``judgment_count`` stories of this question's contexts)."""
        if any(c.needed is None for c in self.contexts if not c.settled):
            return None
        return sum(c.participants or 0 for c in self.contexts)


@dataclass(frozen=True)
class ContextProjection:
    context_id: int
    text: str
    status: str
    settled: bool
    streak: int
    judgments: int
    needed: int | None  # judgments still needed, estimated; None before any judgment
    participants: int | None  # at the study's judgments per participant


def progress(study: Study, snapshot: GraphSnapshot | None = None) -> list[QuestionProgress]:
    """Per question, its canonical contexts with judgments so far and still needed."""
    snapshot = snapshot or GraphSnapshot.latest_for(study)
    states = snapshot.payload.adaptive if snapshot else {}
    per = max(study.judgment_count, 1)
    contexts = list(selectors.canonical_contexts(study).prefetch_related("questions"))
    rows = []
    for question in study.questions.order_by("position", "pk"):
        own = []
        for context in contexts:
            asked = list(context.questions.all())
            if asked and question not in asked:
                continue  # a context tied to no question applies to every question
            state = states.get(str(context.pk)) or AdaptiveState(str(context.pk))
            needed = 0 if state.settled else state.needed
            own.append(
                ContextProjection(
                    context_id=context.pk,
                    text=context.text,
                    status=state.status,
                    settled=state.settled,
                    streak=state.streak,
                    judgments=state.judgments,
                    needed=needed,
                    participants=None if needed is None else math.ceil(needed / per),
                )
            )
        rows.append(QuestionProgress(question.pk, question.key, question.title, tuple(own)))
    return rows


def close_if_settled(*, study: Study, snapshot: GraphSnapshot) -> bool:
    """With ``close_when_settled``, move a live study whose every question has all its
    contexts settled to ``closing`` (recorded in the audit log). True if it moved."""
    if not study.close_when_settled or study.status != Study.Status.LIVE:
        return False
    questions = progress(study, snapshot)
    if not questions or not all(q.settled for q in questions):
        return False
    with transaction.atomic():
        moved = Study.objects.filter(pk=study.pk, status=Study.Status.LIVE).update(
            status=Study.Status.CLOSING
        )
        if moved != 1:
            return False  # someone changed the status meanwhile
        AuditEntry.objects.create(
            study=study,
            action=AuditEntry.Action.STATUS,
            target_type="study",
            target_id=str(study.pk),
            reason="every context of every question is settled (close when settled)",
            details={
                "from": Study.Status.LIVE,
                "to": Study.Status.CLOSING,
                "snapshot": snapshot.pk,
            },
        )
        # An UPDATE sends no save signal: this process's pages read the study afresh.
        transaction.on_commit(lambda: forget_study(study.slug))
    study.status = Study.Status.CLOSING
    logger.info("study %s settled: moved to closing", study.slug)
    return True
