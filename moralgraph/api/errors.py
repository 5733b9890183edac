"""The error responses every operation documents, so that the schema names each status
the API can answer with."""

from moralgraph.api.schemas import Error, Invalid

# A list of the caller's own studies: no study to be missing or forbidden.
LIST_ERRORS = {401: Error, 422: Invalid}
# Anything under /studies/{slug}.
ERRORS = {401: Error, 403: Error, 404: Error, 422: Invalid}
