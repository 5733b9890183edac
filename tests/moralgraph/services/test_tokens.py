"""API tokens: only the hash is kept, a revoked or unknown secret opens nothing."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from moralgraph.models import ApiToken
from moralgraph.services import tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("researcher")


def test_it_keeps_only_the_hash(user):
    token, secret = tokens.create_token(user=user, name="ci")
    assert secret.startswith("mge_") and len(secret) > 40
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:12]
    assert tokens.authenticate(secret) == token


def test_each_token_is_new(user):
    secrets = {tokens.create_token(user=user, name="t")[1] for _ in range(5)}
    assert len(secrets) == 5


def test_it_refuses_unknown_revoked_and_foreign_secrets(user):
    token, secret = tokens.create_token(user=user, name="ci")
    assert tokens.authenticate(secret + "x") is None
    assert tokens.authenticate("abc") is None
    assert tokens.revoke_token(user=user, token_id=token.pk)
    assert not tokens.revoke_token(user=user, token_id=token.pk)  # once
    assert tokens.authenticate(secret) is None


def test_it_touches_last_used_at_at_most_once_a_minute(user):
    token, secret = tokens.create_token(user=user, name="ci")
    tokens.authenticate(secret)
    first = ApiToken.objects.get().last_used_at
    tokens.authenticate(secret)
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    tokens.authenticate(secret)
    assert ApiToken.objects.get().last_used_at > first


def test_it_needs_a_short_name(user):
    with pytest.raises(tokens.TokenError):
        tokens.create_token(user=user, name="")
    with pytest.raises(tokens.TokenError):
        tokens.create_token(user=user, name="x" * 101)


def test_live_tokens_list_first(user):
    old, _ = tokens.create_token(user=user, name="old")
    tokens.create_token(user=user, name="new")
    tokens.revoke_token(user=user, token_id=old.pk)
    assert [t.name for t in tokens.tokens_of(user)] == ["new", "old"]
