"""Per-study roles on every research URL: a staff user who is not a member sees nothing
(404), a viewer reads but cannot act (403), each user's studies list is theirs alone."""

import pytest
from django.urls import get_resolver

from elicitation.models import StudyMember
from moralgraph.research import urls as research_urls
from tests import factories

pytestmark = pytest.mark.django_db
Role = StudyMember.Role

# Every research URL about one study, with how it is called and the least role it needs.
# test_every_study_url_is_listed keeps this list complete as pages are added.
STUDY_URLS = [
    ("get", "/research/s1/", Role.VIEWER),
    ("get", "/research/s1/graph/", Role.VIEWER),
    ("get", "/research/s1/review/", Role.VIEWER),
    ("get", "/research/s1/quality/", Role.VIEWER),
    ("get", "/research/s1/report/", Role.VIEWER),
    ("get", "/research/s1/exports/", Role.VIEWER),
    ("get", "/research/s1/exports/1/download/", Role.VIEWER),
    ("get", "/research/s1/exports/now/csv/", Role.VIEWER),
    ("post", "/research/s1/exports/", Role.ANALYST),
    ("post", "/research/s1/reconcile/", Role.ANALYST),
    ("post", "/research/s1/rescore/", Role.ANALYST),
    ("post", "/research/s1/retry-failed/", Role.ANALYST),
    ("post", "/research/s1/merges/1/split/", Role.ANALYST),
    ("post", "/research/s1/quality/merge/", Role.ANALYST),
    ("post", "/research/s1/quality/merges/1/split/", Role.ANALYST),
    ("get", "/research/s1/settings/", Role.OWNER),
    ("post", "/research/s1/settings/", Role.OWNER),
    ("post", "/research/s1/settings/suggest/", Role.OWNER),
    ("get", "/research/s1/members/", Role.OWNER),
    ("post", "/research/s1/members/", Role.OWNER),
    ("post", "/research/s1/status/", Role.OWNER),
    ("get", "/research/s1/moderation/", Role.ANALYST),
    ("post", "/research/s1/moderation/cards/1/", Role.ANALYST),
    ("post", "/research/s1/moderation/values/1/", Role.ANALYST),
    ("get", "/research/s1/exports/approval.csv", Role.ANALYST),
    ("get", "/research/s1/simulate/", Role.ANALYST),
    ("post", "/research/s1/simulate/", Role.ANALYST),
]
IDS = [f"{method} {url}" for method, url, _ in STUDY_URLS]


@pytest.fixture
def study():
    return factories.StudyFactory(slug="s1", title="Study one")


def _call(client, method, url):
    return getattr(client, method)(url, {"format": "csv"} if method == "post" else None)


def _user(django_user_model, name, **extra):
    return django_user_model.objects.create_user(name, password="a long test password", **extra)


def test_every_study_url_is_listed():
    """A new research page must join STUDY_URLS (and so these tests)."""
    listed = {url.removeprefix("/research/s1/") for _, url, _ in STUDY_URLS}
    routes = set()
    for pattern in research_urls.urlpatterns:
        route = str(pattern.pattern)
        subs = getattr(pattern, "url_patterns", None) or [None]
        for sub in subs:
            full = route + (str(sub.pattern) if sub is not None else "")
            if full.startswith("<slug:slug>/") and "graph/picture" not in full:
                routes.add(
                    full.removeprefix("<slug:slug>/")
                    .replace("<int:merge_id>", "1")
                    .replace("<int:job_id>", "1")
                    .replace("<int:card_id>", "1")
                    .replace("<int:value_id>", "1")
                    .replace("<str:fmt>", "csv")
                )
    assert routes <= listed, routes - listed
    assert get_resolver()  # the site's URLconf loads


@pytest.mark.parametrize(("method", "url", "minimum"), STUDY_URLS, ids=IDS)
def test_a_staff_user_who_is_not_a_member_gets_404(
    client, study, django_user_model, method, url, minimum
):
    client.force_login(_user(django_user_model, "staffer", is_staff=True))
    assert _call(client, method, url).status_code == 404


@pytest.mark.parametrize(("method", "url", "minimum"), STUDY_URLS, ids=IDS)
def test_anonymous_visitors_are_sent_to_the_login(client, study, method, url, minimum):
    response = _call(client, method, url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    ("method", "url", "minimum"), [u for u in STUDY_URLS if u[2] != Role.VIEWER]
)
def test_a_viewer_gets_403_on_analyst_and_owner_actions(
    client, study, django_user_model, method, url, minimum
):
    user = _user(django_user_model, "viewer")
    StudyMember.objects.create(study=study, user=user, role=Role.VIEWER)
    client.force_login(user)
    assert _call(client, method, url).status_code == 403


@pytest.mark.parametrize(
    ("method", "url", "minimum"), [u for u in STUDY_URLS if u[2] == Role.OWNER]
)
def test_an_analyst_gets_403_on_owner_pages(client, study, django_user_model, method, url, minimum):
    user = _user(django_user_model, "analyst")
    StudyMember.objects.create(study=study, user=user, role=Role.ANALYST)
    client.force_login(user)
    assert _call(client, method, url).status_code == 403


def test_a_viewer_reads_the_pages(client, study, django_user_model):
    user = _user(django_user_model, "viewer")
    StudyMember.objects.create(study=study, user=user, role=Role.VIEWER)
    client.force_login(user)
    for method, url, minimum in STUDY_URLS:
        if method == "get" and minimum == Role.VIEWER and "download" not in url:
            assert client.get(url).status_code == 200, url
    page = client.get("/research/s1/").content.decode()
    assert "/research/s1/settings/" not in page  # only owners see the settings link
    assert "/research/s1/rescore/" not in page  # nor buttons they may not press
    exports = client.get("/research/s1/exports/").content.decode()
    assert "needs the analyst role" in exports and "Start export" not in exports


def test_an_analyst_sees_the_actions_but_not_the_settings(client, study, django_user_model):
    user = _user(django_user_model, "analyst")
    StudyMember.objects.create(study=study, user=user, role=Role.ANALYST)
    client.force_login(user)
    page = client.get("/research/s1/").content.decode()
    assert "/research/s1/rescore/" in page and "/research/s1/reconcile/" in page
    assert "/research/s1/settings/" not in page
    assert "Start export" in client.get("/research/s1/exports/").content.decode()


def test_a_member_sees_only_their_studies(client, study, django_user_model):
    other = factories.StudyFactory(slug="s2", title="Study two")
    factories.StudyFactory(slug="s3", title="Study three")
    user = _user(django_user_model, "member", is_staff=True)
    StudyMember.objects.create(study=other, user=user, role=Role.VIEWER)
    client.force_login(user)
    page = client.get("/research/").content.decode()
    assert "Study two" in page
    assert "Study one" not in page and "Study three" not in page


def test_a_superuser_is_owner_everywhere(admin_client, study):
    assert admin_client.get("/research/s1/settings/").status_code == 200
    assert "Study one" in admin_client.get("/research/").content.decode()


def test_a_researcher_without_staff_signs_in_on_the_login_page(client, study, django_user_model):
    user = _user(django_user_model, "plain")
    StudyMember.objects.create(study=study, user=user, role=Role.VIEWER)
    response = client.post(
        "/accounts/login/?next=/research/s1/",
        {"username": "plain", "password": "a long test password", "next": "/research/s1/"},
    )
    assert response.status_code == 302 and response["Location"] == "/research/s1/"
    assert client.get("/research/s1/").status_code == 200
    # The admin still asks for its own permissions.
    assert client.get("/admin/").status_code == 302
