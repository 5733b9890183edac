"""The admin: every list page renders, participant text stays inert, saving a study
starts its reconciliation."""

from unittest import mock

import pytest
from django.contrib import admin
from django.urls import reverse

from elicitation.models import Message, Study
from tests import factories
from tests.helpers import XSS as MARKUP

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", password="not-a-secret-pw-1")
    client.force_login(user)
    return client


def test_every_admin_list_renders(staff_client):
    factories.UpgradeHypothesisFactory()
    factories.ValuesCardFactory(title=XSS)
    for model in admin.site._registry:
        meta = model._meta
        response = staff_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert response.status_code == 200, meta.label


def test_participant_text_is_escaped_in_the_admin(staff_client):
    card = factories.ValuesCardFactory(title=XSS, policies=[XSS, "CHOICES", "MOMENTS"])
    pages = [
        reverse("admin:elicitation_valuescard_changelist"),
        reverse("admin:elicitation_valuescard_change", args=[card.pk]),
    ]
    for page in pages:
        html = staff_client.get(page).content.decode()
        assert XSS not in html
        assert "&lt;script&gt;" in html


def test_saving_a_study_enqueues_its_reconciliation(
    staff_client, django_capture_on_commit_callbacks
):
    with (
        mock.patch("elicitation.queue.enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = staff_client.post(
            reverse("admin:elicitation_study_add"),
            {
                "slug": "new-study",
                "title": "New study",
                "consent_text": "Consent.",
                "status": "live",  # ignored: the status is not a field of the form
                "estimated_minutes": 15,
                "licence": "CC-BY-4.0",
                "interview_min_turns": 3,
                "selection_count": 6,
                "min_selections": 0,
                "judgment_count": 3,
                "message_max_chars": 2000,
                "messages_per_minute": 6,
                "messages_per_hour_study": 3000,
                "story_budget": "1.00",
                "pilot_token": "a-test-link-secret",
                "signups_per_address_hour": 20,
                "inactive_minutes": 120,
                "pairwise_params": "{}",
                "group_quotas": "{}",
                "uniform_share": 0.2,
                "stable_rescorings": 3,
                "completion_code": "ABC123",
                "group_item_key": "political_affiliation",
                "group_answers": '["democrat", "republican"]',
                "questions-TOTAL_FORMS": "0",
                "questions-INITIAL_FORMS": "0",
                "questions-MIN_NUM_FORMS": "0",
                "questions-MAX_NUM_FORMS": "1000",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    study = Study.objects.get(slug="new-study")
    assert study.status == Study.Status.DRAFT
    enqueue.assert_called_once_with("moralgraph.tasks.reconcile_study", study.pk, countdown=None)


def test_the_admin_shows_the_status_but_leaves_its_moves_to_the_research_page(staff_client):
    study = factories.StudyFactory(status=Study.Status.PILOT)
    html = staff_client.get(reverse("admin:elicitation_study_change", args=[study.pk])).content
    html = html.decode()
    assert 'name="status"' not in html
    assert "Pilot" in html and f'href="/research/{study.slug}/"' in html


def test_the_admin_shows_participant_text_inert(admin_client):
    card = factories.ValuesCardFactory(
        title=MARKUP, description=MARKUP, policies=[MARKUP, "B", "C"]
    )
    Message.objects.create(interview=card.interview, seq=1, role="user", content=MARKUP)
    for path in [
        f"/admin/elicitation/valuescard/{card.pk}/change/",
        "/admin/elicitation/valuescard/",
        f"/admin/elicitation/interview/{card.interview.pk}/change/",
        "/admin/elicitation/message/",
    ]:
        html = admin_client.get(path).content.decode()
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path


def test_a_studys_about_you_items_are_edited_on_its_page(staff_client):
    study = factories.StudyFactory()
    page = staff_client.get(reverse("admin:elicitation_study_change", args=[study.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "demographic_items-TOTAL_FORMS" in html and "political_affiliation" in html
    add = staff_client.get(reverse("admin:elicitation_study_add")).content.decode()
    assert "demographic_items-TOTAL_FORMS" not in add  # a new study gets the defaults


def test_the_admin_refuses_a_reserved_slug(staff_client):
    response = staff_client.post(
        reverse("admin:elicitation_study_add"),
        {
            "slug": "members",
            "title": "T",
            "questions-TOTAL_FORMS": "0",
            "questions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "a word the research pages use" in response.content.decode()
    assert not Study.objects.filter(slug="members").exists()
