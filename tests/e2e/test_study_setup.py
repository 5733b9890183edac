"""Setting a study up in headless Chromium, against uvicorn: a researcher with the "add
study" permission opens /research/new/, writes one question, adds a second from the
"suggest questions / contexts" button (the offline model's suggestions), reorders them
and creates the study, which starts in draft with them as its owner. Screenshots go to
test-artifacts/screenshots/setup-*.png."""

import pytest
from django.contrib.auth.models import Permission

from elicitation.models import Study, StudyMember
from moralgraph.models import AuditEntry

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PASSWORD = "a long test password"
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def creator(django_user_model):
    user = django_user_model.objects.create_user("creator", password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="add_study"))
    return user


def test_a_researcher_creates_a_study_with_two_questions(
    uvicorn_server, browser, screenshots, creator, django_user_model
):
    django_user_model.objects.create_user("colleague")
    base = uvicorn_server.url
    page = browser.new_page(viewport=DESKTOP)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{base}/research/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", "creator")
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/research/")
    page.click("text=New study")
    page.wait_for_url(f"{base}/research/new/")

    page.fill("#id_title", "Views on end-of-life care")
    page.fill("#id_slug", "end-of-life")
    page.fill("#id_description", "How should an AI talk with people about dying?")
    page.fill("#id_questions-0-key", "hospice")
    page.fill("#id_questions-0-title", "Choosing hospice")
    page.fill(
        "#id_questions-0-text",
        "My mother's doctors suggest hospice and my brother refuses. What should I do?",
    )

    # The suggestions come from the offline model, about the title.
    page.click("#suggest-questions")
    page.locator("[data-suggestion]").first.wait_for()
    suggestions = page.locator("[data-suggestion]")
    assert suggestions.count() == 4
    assert "end-of-life care" in suggestions.first.inner_text()
    screenshots(page, "setup-01-suggestions")
    facts = page.locator("[data-suggestion][data-key='end-of-life-care-facts']")
    facts.locator("[data-add-suggestion]").click()
    assert facts.locator("[data-add-suggestion]").inner_text() == "Added"
    # A second question row now holds the suggestion, numbered after the first.
    assert page.input_value("#id_questions-1-key") == "end-of-life-care-facts"
    assert page.input_value("#id_questions-1-ORDER") == "2"

    # Move it up: it becomes the first question.
    page.locator("[data-question-row]").nth(1).locator("[data-move=up]").click()
    assert page.input_value("#id_questions-1-ORDER") == "1"
    assert page.input_value("#id_questions-0-ORDER") == "2"

    # Only the chosen group item's answers are shown.
    assert page.locator("[data-group-item=political_affiliation]").is_visible()
    assert not page.locator("[data-group-item=age_band]").is_visible()
    page.fill("#id_pairwise_min_winner_votes", "4")
    screenshots(page, "setup-02-filled")

    page.click("text=Create the study")
    page.wait_for_url(f"{base}/research/end-of-life/settings/")
    page.locator(".flash", has_text="Study created, in draft").wait_for()
    screenshots(page, "setup-03-settings")

    study = Study.objects.get(slug="end-of-life")
    assert study.status == Study.Status.DRAFT
    assert [q.key for q in study.questions.all()] == ["end-of-life-care-facts", "hospice"]
    assert study.pairwise_params == {"min_winner_votes": 4}
    assert StudyMember.objects.get(study=study, user=creator).role == StudyMember.Role.OWNER
    assert AuditEntry.objects.filter(study=study, action="settings").exists()

    # The settings page shows the questions in that order, and saves a change.
    assert page.input_value("#id_questions-0-key") == "end-of-life-care-facts"
    page.fill("#id_estimated_minutes", "20")
    page.click("text=Save settings")
    page.locator(".flash", has_text="Saved: estimated_minutes.").wait_for()
    assert Study.objects.get(pk=study.pk).estimated_minutes == 20

    # The owner adds a colleague as analyst on the members page.
    page.click(".study-head-actions >> text=Members")
    page.wait_for_url(f"{base}/research/end-of-life/members/")
    page.fill("#id_username", "colleague")
    page.select_option("#id_role", "analyst")
    page.click("form.setup-form button[type=submit]")
    page.locator(".flash", has_text="colleague added.").wait_for()
    screenshots(page, "setup-04-members")
    member = StudyMember.objects.get(study=study, user__username="colleague")
    assert member.role == StudyMember.Role.ANALYST
    assert errors == []
