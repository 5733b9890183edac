"""edgeHypothesis.json and edge.json: the upgrade stories and the wiser judgments on them."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from elicitation.models import WiserJudgment
from moralgraph.models import HypothesisRun, UpgradeHypothesis
from moralgraph.services.importers.base import (
    BATCH,
    ImportState,
    Progress,
    Row,
    optional_key,
    rows,
)

VERDICTS = ("upgrade", "no_upgrade", "not_sure")

ValueRef = Callable[[Row, str], int]
ContextRef = Callable[[Row, str], str]


@dataclass
class Edge:
    row: int
    user: int
    from_id: int
    to_id: int
    context: str
    story: str
    run: str | None
    verdict: str
    comment: str | None
    created: datetime


@dataclass
class Hypothesis:
    row: int
    from_id: int
    to_id: int
    context: str
    story: str
    run: str | None
    created: datetime


def read_hypotheses(
    directory: Path, say: Progress, value_ref: ValueRef, context_ref: ContextRef
) -> list[Hypothesis]:
    hypotheses = []
    for r in rows(directory, "edgeHypothesis.json", required=False):
        from_id, to_id = value_ref(r, "fromId"), value_ref(r, "toId")
        if from_id == to_id:
            raise r.error("toId", "equals fromId")
        hypotheses.append(
            Hypothesis(
                r.number,
                from_id,
                to_id,
                context_ref(r, "contextId"),
                r.text("story", null=True) or "",
                optional_key(r, "runId"),
                r.time("createdAt"),
            )
        )
    if hypotheses:
        say(f"edgeHypothesis.json: {len(hypotheses)} hypotheses")
    return hypotheses


def read_edges(
    directory: Path, say: Progress, value_ref: ValueRef, context_ref: ContextRef
) -> list[Edge]:
    edges = []
    edge_rows: dict[tuple[int, int, int], int] = {}
    for r in rows(directory, "edge.json", required=True):
        user = r.int("userId")
        from_id, to_id = value_ref(r, "fromId"), value_ref(r, "toId")
        if from_id == to_id:
            raise r.error("toId", "equals fromId")
        first = edge_rows.setdefault((user, from_id, to_id), r.number)
        if first != r.number:
            raise r.error(
                "toId",
                f"same userId, fromId and toId as row {first}; the reference keyed judgments "
                "on these, so the dump is corrupt",
            )
        # Later reference versions call the verdict "type".
        verdict_field = "relationship" if "relationship" in r.data else "type"
        edges.append(
            Edge(
                r.number,
                user,
                from_id,
                to_id,
                context_ref(r, "contextId"),
                r.text("story", null=True) or "",
                optional_key(r, "runId"),
                r.choice(verdict_field, VERDICTS),
                r.text("comment", null=True),
                r.time("createdAt"),
            )
        )
    say(f"edge.json: {len(edges)} judgments")
    return edges


def write_hypotheses(state: ImportState) -> None:
    runs_seen: dict[str, list[datetime]] = defaultdict(list)
    for row in [*state.dump.hypotheses, *state.dump.edges]:
        if row.run:
            runs_seen[row.run].append(row.created)
    existing_runs = set(
        state.study.hypothesis_runs.exclude(external_id="").values_list("external_id", flat=True)
    )
    new_runs = [
        HypothesisRun(
            study=state.study,
            external_id=run,
            started_at=min(times),
            finished_at=max(times),
        )
        for run, times in sorted(runs_seen.items())
        if run not in existing_runs
    ]
    HypothesisRun.objects.bulk_create(new_runs)
    state.tally("hypothesis runs", len(new_runs), len(runs_seen) - len(new_runs))
    runs = {r.external_id: r for r in state.study.hypothesis_runs.exclude(external_id="")}

    # edgeHypothesis.json first (the stories as written), then the earliest judgment of
    # each story that is no longer there.
    wanted: dict[tuple[int, int, str], tuple[Hypothesis | Edge, bool]] = {}
    for row in state.dump.hypotheses:
        key = (row.from_id, row.to_id, row.context)
        if key not in wanted:
            wanted[key] = (row, True)
    from_edges = 0
    for row in sorted(state.dump.edges, key=lambda e: (e.created, e.row)):
        key = (row.from_id, row.to_id, row.context)
        if key not in wanted:
            wanted[key] = (row, False)
            from_edges += 1

    existing = {
        (h.from_value_id, h.to_value_id, h.context_id): h for h in state.study.hypotheses.all()
    }
    new = []
    for (from_id, to_id, context), (row, active) in wanted.items():
        from_value, to_value = state.values[from_id], state.values[to_id]
        context_row = state.contexts[context]
        if (from_value.pk, to_value.pk, context_row.pk) in existing:
            continue
        new.append(
            UpgradeHypothesis(
                study=state.study,
                from_value=from_value,
                to_value=to_value,
                context=context_row,
                story=row.story,
                run=runs.get(row.run) if row.run else None,
                is_active=active,
                external_id=f"{from_id}:{to_id}",
                created_at=row.created,
            )
        )
    UpgradeHypothesis.objects.bulk_create(new, batch_size=BATCH)
    state.tally("hypotheses", len(new), len(wanted) - len(new))
    if from_edges:
        state.report.notes.append(
            f"{from_edges} hypotheses are known only from edge.json and were imported as retired"
        )
    state.hypotheses = {
        (h.from_value_id, h.to_value_id, h.context_id): h for h in state.study.hypotheses.all()
    }


def write_judgments(state: ImportState) -> None:
    edges = sorted(state.dump.edges, key=lambda e: (e.created, e.row))
    existing = set(
        WiserJudgment.objects.filter(participant__study=state.study).values_list(
            "participant_id", "hypothesis_id"
        )
    )
    seen_pairs: Counter = Counter()
    new = []
    repeats = 0
    for e in edges:
        participant = state.participants[e.user]
        from_value, to_value = state.values[e.from_id], state.values[e.to_id]
        hypothesis = state.hypotheses[(from_value.pk, to_value.pk, state.contexts[e.context].pk)]
        base = WiserJudgment.make_pair_key(from_value.pk, to_value.pk)
        seen_pairs[(participant.pk, base)] += 1
        n = seen_pairs[(participant.pk, base)]
        if n > 1:
            repeats += 1
        if (participant.pk, hypothesis.pk) in existing:
            continue
        new.append(
            WiserJudgment(
                participant=participant,
                hypothesis=hypothesis,
                pair_key=base if n == 1 else f"{base}#{n}",
                verdict=e.verdict,
                reason=e.comment or "",
                external_id=f"{e.user}:{e.from_id}:{e.to_id}",
                created_at=e.created,
            )
        )
        if len(new) % 10000 == 0:
            state.say(f"judgments: {len(new)} of {len(edges)} prepared")
    WiserJudgment.objects.bulk_create(new, batch_size=BATCH)
    state.tally("judgments", len(new), len(edges) - len(new))
    if repeats:
        state.report.notes.append(
            f"{repeats} judgments repeat a pair the same participant had judged the other "
            "way round; kept, with pair_key suffixed #2"
        )
    no_comment = sum(e.comment is None for e in edges)
    if no_comment:
        state.report.notes.append(f"{no_comment} judgments have no comment")
