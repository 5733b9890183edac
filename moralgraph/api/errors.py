"""The error responses every operation documents, so that the schema names each status
the API can answer with."""

from moralgraph.api.schemas import Error, Invalid

# 400: a control character in a query parameter (elicitation.http.InputGuardMiddleware) or
# an export that cannot be made as asked. A list of the caller's own studies has no study
# to be missing or forbidden.
LIST_ERRORS = {400: Error, 401: Error, 422: Invalid}
# Anything under /studies/{slug}.
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 422: Invalid}
