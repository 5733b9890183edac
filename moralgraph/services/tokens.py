"""Researchers' tokens for the read API (moralgraph.api): create, revoke, authenticate.

A token is ``mge_`` and 43 URL-safe characters. Only its SHA-256 is stored, so the
secret is shown once, when it is made; its first characters (the prefix) are kept to
tell tokens apart on the tokens page. A token reaches what its owner reaches: the
studies where they have a role (moralgraph.research.access), no more.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from moralgraph.models import ApiToken

SCHEME = "mge_"
PREFIX_CHARS = 12
NAME_MAX_CHARS = ApiToken._meta.get_field("name").max_length
# last_used_at is for the researcher's eye ("used today"), not an audit trail: writing it
# on every call would make each read a write.
TOUCH_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token that cannot be made as asked (no name, a name too long)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_token(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the secret, which is not kept."""
    name = " ".join(name.split())
    if not name:
        raise TokenError("Give the token a name, e.g. the script or machine that will use it.")
    if len(name) > NAME_MAX_CHARS:
        raise TokenError(f"A token's name has at most {NAME_MAX_CHARS} characters.")
    secret = SCHEME + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=secret[:PREFIX_CHARS], key_hash=_hash(secret)
    )
    return token, secret


def revoke_token(*, user, token_id: int) -> bool:
    """Revoke one of ``user``'s tokens. False when there is no such live token of theirs."""
    revoked = ApiToken.objects.filter(pk=token_id, user=user, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    return revoked == 1


def authenticate(secret: str) -> ApiToken | None:
    """The live token with this secret whose owner is active, or None."""
    if not secret.startswith(SCHEME) or len(secret) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(secret), revoked_at=None, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def tokens_of(user):
    """The user's tokens, live first, newest first."""
    return ApiToken.objects.filter(user=user).order_by(
        F("revoked_at").desc(nulls_first=True), "-created_at", "-pk"
    )
