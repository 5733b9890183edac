"""Who reaches what: a token, and a role on the study, for everything but the schema."""

import pytest
from django.test import Client

from moralgraph.models import ApiToken
from moralgraph.services import tokens
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_schema_is_open_to_all(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/studies/{slug}/report" in schema["paths"]
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def test_it_needs_a_token(client, member, researcher):
    study = factories.StudyFactory(slug="mine")
    member(researcher, study)
    client.force_login(researcher)  # a session is not a token
    for url in ("/api/studies", "/api/studies/mine", "/api/studies/mine/values"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json() == {"detail": "Unauthorized"}


@pytest.mark.parametrize(
    "header",
    ["Bearer mge_not-a-real-token", "Bearer ", "Token mge_x", "mge_x", "Bearer " + "x" * 500],
)
def test_it_refuses_a_bad_token(header):
    assert Client(headers={"Authorization": header}).get("/api/studies").status_code == 401


def test_it_refuses_a_revoked_token(api, researcher):
    assert api.get("/api/studies").status_code == 200
    tokens.revoke_token(user=researcher, token_id=ApiToken.objects.get().pk)
    assert api.get("/api/studies").status_code == 401


def test_it_refuses_the_token_of_an_inactive_user(api, researcher):
    researcher.is_active = False
    researcher.save()
    assert api.get("/api/studies").status_code == 401


def test_it_lists_only_the_studies_where_the_owner_has_a_role(api, researcher, member):
    viewer = factories.StudyFactory(slug="viewed")
    owned = factories.StudyFactory(slug="owned")
    factories.StudyFactory(slug="someone-elses")
    member(researcher, viewer, "viewer")
    member(researcher, owned, "owner")
    body = api.get("/api/studies").json()
    assert body["count"] == 2
    assert {(s["slug"], s["role"]) for s in body["items"]} == {
        ("viewed", "viewer"),
        ("owned", "owner"),
    }


def test_staff_without_a_role_sees_nothing(api, researcher):
    factories.StudyFactory(slug="other")
    researcher.is_staff = True
    researcher.save()
    assert api.get("/api/studies").json() == {"items": [], "count": 0}
    assert api.get("/api/studies/other").status_code == 403


def test_a_superuser_sees_every_study(api, researcher):
    factories.StudyFactory(slug="one")
    factories.StudyFactory(slug="two")
    researcher.is_superuser = True
    researcher.save()
    body = api.get("/api/studies").json()
    assert {s["slug"] for s in body["items"]} == {"one", "two"}
    assert {s["role"] for s in body["items"]} == {"owner"}


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/questions",
        "/contexts",
        "/values",
        "/edges",
        "/snapshots",
        "/snapshots/latest",
        "/report",
        "/exports",
        "/exports/1",
        "/exports/1/download",
    ],
)
def test_another_study_is_forbidden_and_an_unknown_one_missing(api, path):
    factories.StudyFactory(slug="theirs")
    assert api.get(f"/api/studies/theirs{path}").status_code == 403
    assert api.get(f"/api/studies/nowhere{path}").status_code == 404


def test_a_viewer_cannot_start_an_export(api, researcher, member):
    member(researcher, factories.StudyFactory(slug="viewed"), "viewer")
    response = api.post(
        "/api/studies/viewed/exports", {"format": "graph-json"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "analyst" in response.json()["detail"]


def test_using_a_token_records_when(api):
    assert ApiToken.objects.get().last_used_at is None
    api.get("/api/studies")
    assert ApiToken.objects.get().last_used_at is not None
