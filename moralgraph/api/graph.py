"""The scored graph: edges and snapshots (GraphSnapshot and its typed payload), and the
study report (moralgraph.research.report, the JSON of ``manage.py report``)."""

from ninja import Query, Router
from ninja.errors import HttpError
from ninja.pagination import paginate

from moralgraph.api.auth import study_for
from moralgraph.api.errors import ERRORS
from moralgraph.api.pagination import Paginated
from moralgraph.api.schemas import EdgeOut, Mode, ReportOut, Slug, SnapshotDetail, SnapshotOut
from moralgraph.graph.payload import Edge
from moralgraph.models import GraphSnapshot
from moralgraph.research.report import report

router = Router(tags=["graph"])


def _edge(context_id: str, edge: Edge) -> dict:
    return {
        "context_id": context_id,
        "from_id": edge.from_id,
        "to_id": edge.to_id,
        "kept": edge.kept,
        "share": edge.share,
        "decisive": edge.decisive,
        "counts": dict(edge.counts),
        "interval": list(edge.interval) if edge.interval else None,
        "bridging": edge.bridging,
        "bridged": edge.bridged,
        "groups": [
            {"group": g.group, "decisive": g.decisive, "share": g.share} for g in edge.groups
        ],
        "dpo": edge.dpo,
    }


@router.get("/studies/{slug}/edges", response={200: list[EdgeOut], **ERRORS})
@paginate(Paginated)
def list_edges(
    request,
    slug: str = Slug,
    mode: Mode = "default",
    kept: bool | None = None,
    context_id: str | None = Query(None, max_length=64),
):
    """Every compared pair of the latest snapshot in ``mode``, context by context (empty
    before the first scoring). ``kept``: only the edges that are (or are not) in the graph."""
    snapshot = GraphSnapshot.latest_for(study_for(request, slug), mode)
    if snapshot is None:
        return []
    return [
        _edge(scored.context_id, edge)
        for scored in snapshot.payload.contexts
        if context_id is None or scored.context_id == context_id
        for edge in scored.edges
        if kept is None or edge.kept == kept
    ]


@router.get("/studies/{slug}/snapshots", response={200: list[SnapshotOut], **ERRORS})
@paginate(Paginated)
def list_snapshots(request, slug: str = Slug, mode: Mode | None = None):
    """The study's scoring runs, newest first."""
    snapshots = GraphSnapshot.objects.filter(study=study_for(request, slug))
    if mode:
        snapshots = snapshots.filter(mode=mode)
    return snapshots.order_by("-created_at", "-pk").defer("results")


@router.get("/studies/{slug}/snapshots/latest", response={200: SnapshotDetail, **ERRORS})
def latest_snapshot(request, slug: str = Slug, mode: Mode = "default"):
    """The snapshot every page and export reads (GraphSnapshot.latest_for), with each
    context's status, leader and ranking; 404 before the first scoring."""
    snapshot = GraphSnapshot.latest_for(study_for(request, slug), mode)
    if snapshot is None:
        raise HttpError(404, "The study has not been scored yet.")
    graph = snapshot.payload
    return {
        **SnapshotOut.from_orm(snapshot).dict(),
        "contexts": [
            {
                "context_id": scored.context_id,
                "status": scored.status,
                "reason": scored.reason,
                "needed": scored.needed,
                "winner": {
                    "value_id": scored.winner.value_id,
                    "probability": scored.winner.probability,
                    "status": scored.winner.status,
                    "bridging_status": scored.winner.bridging_status,
                }
                if scored.winner
                else None,
                "ranks": [{"value_id": r.value_id, "score": r.score} for r in scored.ranks],
                "edges": len(scored.edges),
            }
            for scored in graph.contexts
        ],
        "cross_group_agreement": dict(graph.cross_group_agreement),
        "unlabelled_share": graph.unlabelled_share,
    }


@router.get("/studies/{slug}/report", response={200: ReportOut, **ERRORS})
def get_report(request, slug: str = Slug):
    """The study's report: legitimacy with 95 % intervals, each context's leader with its
    status and bridging, cross-group agreement. The same JSON as
    ``manage.py report --format json``."""
    return report(study_for(request, slug))
