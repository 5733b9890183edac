"""Bearer tokens and the per-study role check of every API call."""

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer

from elicitation.models import Study
from moralgraph.research.access import Role, has_role, role_of
from moralgraph.services import tokens


class TokenAuth(HttpBearer):
    """``Authorization: Bearer mge_...``; request.auth is the ApiToken."""

    def __call__(self, request: HttpRequest):
        # django-ninja's own parser logs a malformed header whole under DEBUG, which could
        # write a secret to the log; this one never logs it.
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str):
        return tokens.authenticate(token)


def study_for(request: HttpRequest, slug: str, minimum: str = Role.VIEWER) -> Study:
    """The study if the token's owner has at least ``minimum`` on it: 404 for an unknown
    slug, 403 without a role or with too low a one."""
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise HttpError(404, "No such study.")
    user = request.auth.user
    if role_of(user, study) is None:
        raise HttpError(403, "The token's owner has no role on this study.")
    if not has_role(user, study, minimum):
        raise HttpError(403, f"This needs the {minimum} role on the study.")
    return study
