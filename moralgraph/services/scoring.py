"""Scoring a study: read its wiser judgments from the database, score them with the pure
functions in moralgraph.graph, store the result as a GraphSnapshot.

The graph math lives in graph.py; this module only turns rows into graph.Judgment and
a result into a row.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from elicitation.models import Study
from elicitation.queue import enqueue_on_commit
from elicitation.selectors import counted_judgments, participant_groups, study_groups
from moralgraph import graph, selectors
from moralgraph.graph.pairwise import ContextFit, PairwiseParams
from moralgraph.graph.target import score_target
from moralgraph.models import GraphSnapshot
from moralgraph.services import adaptive


def judgments_for(study: Study, *, as_of: datetime | None = None) -> list[graph.Judgment]:
    """Every counted wiser judgment of a study made before ``as_of`` (all of them if
    None): test participants' judgments never move a score (selectors.counted_judgments).

    Value ids are those of the active value each side now counts toward, so a judgment on
    a value that was later merged counts for the merged value; a judgment whose two sides
    have become one value carries no information and is left out.
    """
    return [graph.Judgment(*row) for row in judgment_rows(study, as_of=as_of)]


def judgment_rows(
    study: Study, *, as_of: datetime | None = None
) -> list[tuple[str, str, str, str, str | None, str]]:
    """``judgments_for`` as plain tuples, the fields of ``graph.Judgment`` in order (from_id,
    to_id, context_id, verdict, group, participant_id), for readers that only count them:
    an export's votes per group reads 200,000 of them without building an object each."""
    # One study filter (the participant's): a second one on the stories' study let the
    # planner, with the stale statistics of a freshly imported study, pair every story
    # with every participant (seconds at 20,000 judgments, quadratic beyond).
    rows = counted_judgments(study)
    if as_of is not None:
        rows = rows.filter(created_at__lt=as_of)
    rows = rows.order_by("id").values_list(
        "hypothesis__from_value_id",
        "hypothesis__to_value_id",
        "hypothesis__context_id",
        "hypothesis__context__duplicate_of_id",
        "verdict",
        "participant_id",
    )
    roots = selectors.value_roots(study)
    hidden = selectors.moderated_value_ids(study)  # moderation: not a node, no votes
    # The study's groups; an unlabelled participant's judgments count in pooled figures only.
    groups = participant_groups(study)
    out = []
    for from_id, to_id, context_id, duplicate_of, verdict, participant_id in rows:
        from_id = roots.get(from_id, from_id)
        to_id = roots.get(to_id, to_id)
        if from_id == to_id or from_id in hidden or to_id in hidden:
            continue
        out.append(
            (
                str(from_id),
                str(to_id),
                # A story written for a context later found to duplicate another counts
                # toward the one it duplicates.
                str(duplicate_of or context_id),
                verdict,
                groups.get(participant_id),
                str(participant_id),
            )
        )
    return out


def score_study(
    *, study: Study, mode: str = "default", as_of: datetime | None = None
) -> GraphSnapshot:
    """Score a study's judgments into a snapshot; the same inputs return the same row.

    A run over all judgments (no ``as_of``) in the default mode records when the study
    was scored, which is what the debounced score task compares with graph_changed_at.
    """
    started = timezone.now()
    judgments = judgments_for(study, as_of=as_of)
    # The latest snapshot: its fits are reused, its streaks continued (adaptive elicitation).
    previous = GraphSnapshot.latest_for(study) if mode == GraphSnapshot.Mode.DEFAULT else None
    result = score_judgments(
        study, judgments, mode=mode, previous=previous if as_of is None else None
    )
    snapshot, created = GraphSnapshot.objects.get_or_create(
        study=study,
        mode=mode,
        input_hash=result["input_hash"],
        defaults={
            "params": result["params"],
            "as_of": as_of,
            "judgment_count": len(judgments),
            "results": result,
        },
    )
    if created and as_of is None and mode == GraphSnapshot.Mode.DEFAULT:
        adaptive.after_scoring(study=study, snapshot=snapshot)
    if not created and as_of is None:
        # Inputs back to an earlier state (an unhide, a split after a merge): that earlier
        # snapshot is the current graph again, so it becomes the latest (latest_for). Only
        # a newer complete run says so; a later cut-off export changes nothing.
        newer = (
            GraphSnapshot.objects.filter(study=study, mode=mode, created_at__gt=snapshot.created_at)
            .filter(Q(as_of=None) | Q(as_of__gte=F("created_at")))
            .exists()
        )
        if newer:
            GraphSnapshot.objects.filter(pk=snapshot.pk).update(created_at=started, as_of=None)
            snapshot.refresh_from_db()
    if as_of is None and mode == GraphSnapshot.Mode.DEFAULT:
        # Only move forward: a slower, older run must not hide a newer change.
        Study.objects.filter(Q(scored_at=None) | Q(scored_at__lt=started), pk=study.pk).update(
            scored_at=started
        )
    return snapshot


# Per study, the last fits of this process: a rescoring refits only contexts whose
# judgments changed (a context's fit is keyed by its input hash, seed included).
_FITS: dict[int, dict[str, ContextFit]] = {}


def score_judgments(
    study: Study, judgments: list[graph.Judgment], *, mode: str, previous=None
) -> dict:
    """Score a study's judgments: compat as the reference; default with the per-context
    pairwise model, bootstrapped from the study's seed, over the study's groups.

    ``previous``, the study's latest snapshot, lends its fits (refitting only contexts
    whose judgments changed, in any process) and its streaks (services.adaptive)."""
    if mode != GraphSnapshot.Mode.DEFAULT:
        return graph.score(judgments, mode=mode)
    result, fits = score_target(
        judgments,
        study_seed=study_seed(study),
        groups=[answer for answer, _ in study_groups(study)],
        pairwise=pairwise_params_for(study),
        previous=_FITS.get(study.pk) or adaptive.cached_fits(previous),
    )
    _FITS.clear()  # one study's fits at a time: bounded memory in a long-lived worker
    _FITS[study.pk] = fits
    result.update(adaptive.scored_extras(study, result, fits, previous))
    return result


def pairwise_params_for(study: Study) -> PairwiseParams:
    """The model's settings and the statuses' thresholds for a study: PairwiseParams'
    calibrated defaults, then the deployment's PAIRWISE_PARAMS, then the study's own
    overrides (Study.pairwise_params). They are in the input hash, so changing one makes
    a new snapshot."""
    merged = {**(getattr(settings, "PAIRWISE_PARAMS", None) or {}), **(study.pairwise_params or {})}
    return PairwiseParams.from_mapping(merged)


def study_seed(study: Study) -> int:
    """The study's bootstrap seed, from its slug: the same study imported into another
    database (another id) resamples alike, so its snapshot is the same."""
    return int(hashlib.sha256(study.slug.encode()).hexdigest()[:15], 16)


def score_if_due(*, study_id: int) -> GraphSnapshot | None:
    """Score a study (default mode, every judgment) if its graph changed since it was last
    scored; None when it has not, or when the study is gone."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None or not _score_due(study):
        return None
    return score_study(study=study)


def _score_due(study: Study) -> bool:
    if study.graph_changed_at is None:
        return False
    if study.scored_at is not None and study.scored_at >= study.graph_changed_at:
        return False  # already scored after the change
    # Under a steady stream of judgments, score at most once per debounce period: the
    # task scheduled by the latest change comes later and picks it up.
    recent = timezone.now() - timedelta(seconds=settings.SCORE_DEBOUNCE_SECONDS)
    return not (study.scored_at is not None and study.scored_at > recent)


def note_graph_changed(*, study_id: int) -> None:
    """Record that the graph's inputs changed and schedule a debounced score."""
    Study.objects.filter(pk=study_id).update(graph_changed_at=timezone.now())
    schedule_score(study_id)


def schedule_score(study_id: int) -> None:
    """Score the study after the quiet spell (the task scores only if still due)."""
    enqueue_on_commit(
        "moralgraph.tasks.score_study", study_id, countdown=settings.SCORE_DEBOUNCE_SECONDS
    )


def parse_as_of(text: str) -> datetime:
    """An --as-of cut-off: an ISO date-time, or a date meaning its first moment (so that
    day's judgments are left out); UTC when no offset is given. Raises ValueError."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise ValueError(f"--as-of must be an ISO date or date-time, got {text!r}")
        moment = datetime.combine(day, time.min)
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
