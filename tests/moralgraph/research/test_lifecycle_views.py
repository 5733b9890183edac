"""Moving a study by hand from the head of its research pages (owners only, audited)."""

import pytest

from elicitation.models import Study, StudyMember
from moralgraph.models import AuditEntry
from tests import factories

pytestmark = pytest.mark.django_db
Status = Study.Status


def _status(study) -> str:
    return Study.objects.get(pk=study.pk).status


def test_an_owner_launches_a_pilot_and_the_move_is_audited(admin_client, admin_user):
    study = factories.StudyFactory(status=Status.PILOT)
    response = admin_client.post(
        f"/research/{study.slug}/status/", {"to": "live", "reason": "The pilot went well."}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/research/{study.slug}/"
    assert _status(study) == Status.LIVE
    entry = AuditEntry.objects.get(study=study)
    assert (entry.action, entry.actor, entry.reason) == (
        "status",
        admin_user,
        "The pilot went well.",
    )
    assert entry.details == {"from": "pilot", "to": "live", "automatic": False}


def test_a_move_the_lifecycle_does_not_allow_is_refused_plainly(admin_client):
    study = factories.StudyFactory(status=Status.LIVE)
    response = admin_client.post(
        f"/research/{study.slug}/status/",
        {"to": "draft", "next": f"/research/{study.slug}/"},
        follow=True,
    )
    assert "A live study cannot move to draft." in response.content.decode()
    assert _status(study) == Status.LIVE
    assert not AuditEntry.objects.exists()


def test_only_owners_move_a_study(client, django_user_model):
    study = factories.StudyFactory(status=Status.LIVE)
    analyst = django_user_model.objects.create_user("analyst", is_staff=True)
    StudyMember.objects.create(study=study, user=analyst, role=StudyMember.Role.ANALYST)
    client.force_login(analyst)
    assert client.post(f"/research/{study.slug}/status/", {"to": "closing"}).status_code == 403
    outsider = django_user_model.objects.create_user("outsider", is_staff=True)
    client.force_login(outsider)
    assert client.post(f"/research/{study.slug}/status/", {"to": "closing"}).status_code == 404
    assert _status(study) == Status.LIVE


def test_it_rejects_get(admin_client):
    study = factories.StudyFactory()
    assert admin_client.get(f"/research/{study.slug}/status/").status_code == 405


def test_every_research_page_shows_the_status_and_an_owner_its_next_steps(admin_client):
    study = factories.StudyFactory(status=Status.PILOT)
    factories.QuestionFactory(study=study)
    for page in ("", "graph/", "report/", "exports/", "quality/"):
        html = admin_client.get(f"/research/{study.slug}/{page}").content.decode()
        assert 'id="study-status">Pilot<' in html, page
    html = admin_client.get(f"/research/{study.slug}/").content.decode()
    assert 'name="to" value="live"' in html and 'name="to" value="draft"' in html
    assert 'name="to" value="closed"' not in html
    assert f"/s/{study.slug}/test/{study.pilot_token}/" in html


def test_a_viewer_sees_the_status_but_no_buttons(client, django_user_model):
    study = factories.StudyFactory(status=Status.LIVE)
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    StudyMember.objects.create(study=study, user=viewer, role=StudyMember.Role.VIEWER)
    client.force_login(viewer)
    html = client.get(f"/research/{study.slug}/").content.decode()
    assert 'id="study-status">Live<' in html
    assert 'name="to"' not in html and study.pilot_token not in html
