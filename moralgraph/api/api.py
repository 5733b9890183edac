"""The NinjaAPI instance: every operation needs a researcher's token; only the OpenAPI
schema (/api/openapi.json) is open to all. The interactive docs page is off: the schema
is what clients and code generators read."""

from ninja import NinjaAPI

from moralgraph.api import exports, graph, studies
from moralgraph.api.auth import TokenAuth

api = NinjaAPI(
    title="MGE Studio read API",
    version="1",
    description=(
        "Read a study's questions, contexts, values, scored graph and report, and run "
        "exports. Authenticate with `Authorization: Bearer <token>`; researchers make "
        "tokens at /research/tokens/. A token reaches the studies where its owner has a "
        "role; starting an export needs the analyst role."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
    docs_url=None,
)
api.add_router("/", studies.router)
api.add_router("/", graph.router)
api.add_router("/", exports.router)
