"""Downloading the approval list from the exports page: analysts only, never cached."""

import pytest
from django.urls import reverse

from elicitation.models import StudyMember
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    study = factories.StudyFactory(slug="recruited")
    factories.ParticipantFactory(study=study, recruiter_pid="P1")
    return study


def test_the_exports_page_links_it_and_says_it_is_the_only_one_with_ids(admin_client, study):
    page = admin_client.get(reverse("research:exports", args=[study.slug])).content.decode()
    assert reverse("research:approval", args=[study.slug]) in page
    assert "only export with recruiter ids" in page


def test_it_downloads_the_list(admin_client, study):
    response = admin_client.get(reverse("research:approval", args=[study.slug]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="recruited-approval.csv"'
    assert response["Cache-Control"] == "no-store"
    assert response.content.decode().splitlines()[1].startswith("P1,")


def test_a_viewer_may_not_download_it(client, django_user_model, study):
    user = django_user_model.objects.create_user("viewer")
    StudyMember.objects.create(study=study, user=user, role=StudyMember.Role.VIEWER)
    client.force_login(user)
    assert client.get(reverse("research:approval", args=[study.slug])).status_code == 403
