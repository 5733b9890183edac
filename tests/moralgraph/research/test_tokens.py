"""The researcher's API tokens page: make a token (shown once), list, revoke."""

import re

import pytest
from django.test import Client

from moralgraph.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher(client, django_user_model):
    user = django_user_model.objects.create_user("researcher")
    client.force_login(user)
    return user


def test_it_needs_a_login(client):
    response = client.get("/research/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_new_token_is_shown_once_and_opens_the_api(client, researcher):
    response = client.post("/research/tokens/", {"name": "  analysis   notebook "})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    secret = re.search(r'value="(mge_[\w-]+)"', page).group(1)
    token = ApiToken.objects.get()
    assert token.name == "analysis notebook" and token.user == researcher
    assert secret.startswith(token.prefix) and secret not in token.key_hash
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/studies").status_code == 200
    # Listed afterwards by name and prefix only.
    listing = client.get("/research/tokens/").content.decode()
    assert "analysis notebook" in listing and token.prefix in listing
    assert secret not in listing


def test_it_asks_for_a_name(client, researcher):
    response = client.post("/research/tokens/", {"name": "   "})
    assert response.status_code == 400
    assert "Give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_closes_the_api_to_the_token(client, researcher):
    page = client.post("/research/tokens/", {"name": "script"}).content.decode()
    secret = re.search(r'value="(mge_[\w-]+)"', page).group(1)
    token = ApiToken.objects.get()
    response = client.post(f"/research/tokens/{token.pk}/revoke/", follow=True)
    assert "Token revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Revoked" in client.get("/research/tokens/").content.decode()
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/studies").status_code == 401


def test_one_cannot_revoke_another_researchers_token(client, researcher, django_user_model):
    other = django_user_model.objects.create_user("other")
    from moralgraph.services import tokens

    token, _ = tokens.create_token(user=other, name="theirs")
    client.post(f"/research/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is None
    assert "theirs" not in client.get("/research/tokens/").content.decode()


def test_it_rejects_get_on_revoke(client, researcher):
    assert client.get("/research/tokens/1/revoke/").status_code == 405
