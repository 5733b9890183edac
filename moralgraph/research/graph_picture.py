"""The graph picture: the latest scored graph drawn as nodes and edges (Cytoscape.js,
vendored in static/vendor/cytoscape/), with filters and a side panel.

One URL, like the other research pages: the full page for a normal request, the side
panel alone for htmx (``?value=ID`` or ``?edge=CONTEXT:FROM:TO``). The same links work
without JavaScript: they render the page with that panel open. The text review at
``research:review`` (linked from here) stays the place to read everything in order.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from elicitation.models import Study
from moralgraph.models import GraphSnapshot
from moralgraph.research import picture, review
from moralgraph.research.access import Role, study_role


def _snapshot(study: Study, snapshot_id: str | None) -> GraphSnapshot | None:
    # The panel asks about the snapshot the page drew, even if a newer one arrived since.
    if snapshot_id:
        snapshot = review.pick_snapshot(study, snapshot_id=snapshot_id)
        if snapshot is None:
            raise Http404("no such snapshot")
        return snapshot
    return GraphSnapshot.latest_for(study)


@study_role(Role.VIEWER)
@vary_on_headers("HX-Request")
@require_GET
def graph_picture(request, study):
    snapshot = _snapshot(study, request.GET.get("snapshot"))
    value_id, edge_key = request.GET.get("value", ""), request.GET.get("edge", "")
    detail = kind = None
    if snapshot is not None and value_id:
        detail, kind = picture.value_detail(study, snapshot, value_id), "value"
    elif snapshot is not None and edge_key:
        detail, kind = picture.edge_detail(study, snapshot, edge_key), "edge"
    if kind and detail is None:
        raise Http404("no such value or edge in this snapshot")
    context = {
        "study": study,
        "section": "graph",
        "snapshot": snapshot,
        "detail": detail,
        "kind": kind,
    }
    if request.htmx:
        return render(request, "research/graph_picture.html#panel", context)
    context["backlog"] = review.backlog(study)
    if snapshot is not None:
        context["data"] = picture.picture_data(study, snapshot)
    return render(request, "research/graph_picture.html", context)
