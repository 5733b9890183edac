"""Moderation in a browser: an analyst finds the card the pre-screen flagged first, hides
it as a joke, sees it in the audit log, and shows it again."""

import pytest
from django.utils import timezone

from elicitation.models import StudyMember, ValuesCard
from moralgraph.models import AuditEntry, CardMapping, Value
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def study(transactional_db):
    study = factories.StudyFactory(slug="moderated", title="A moderated study")
    question = factories.QuestionFactory(study=study)
    for title, flag in (("Patient Presence", ""), ("Lol Whatever", "Very short: 3 words.")):
        card = ValuesCard.objects.create(
            study=study,
            question=question,
            title=title,
            description="Attending to what matters.",
            policies=["MOMENTS when it matters"],
            status=ValuesCard.Status.SUBMITTED,
            submitted_at=timezone.now(),
            screen_flag=flag,
        )
        value = Value.objects.create(study=study, title=title, description="d", policies=[])
        CardMapping.objects.create(card=card, value=value)
    return study


@pytest.fixture
def analyst(django_user_model, study):
    # Not staff: research pages sign in at /accounts/login/; the role opens the study.
    user = django_user_model.objects.create_user("analyst", password="a long test password")
    StudyMember.objects.create(study=study, user=user, role=StudyMember.Role.ANALYST)
    return user


def test_an_analyst_hides_and_unhides_a_flagged_card(
    uvicorn_server, browser, screenshots, study, analyst
):
    base = uvicorn_server.url
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.goto(f"{base}/research/moderated/moderation/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", "analyst")
    page.fill("#id_password", "a long test password")
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/research/moderated/moderation/")

    first = page.locator("#cards tbody tr").first
    assert "Lol Whatever" in first.inner_text() and "Flagged" in first.inner_text()
    first.locator("select[name=reason]").select_option("joke")
    first.locator("input[name=note]").fill("Not a value")
    first.get_by_role("button", name="Hide").click()
    page.locator(".flash").wait_for()
    assert "Hid the card" in page.locator(".flash").inner_text()
    assert "Not a value" in page.locator("#audit").inner_text()
    screenshots(page, "research-moderation")
    card = ValuesCard.objects.get(title="Lol Whatever")
    assert card.hidden_reason == "joke"

    page.click("nav.filters >> text=Hidden")
    row = page.locator("#cards tbody tr").first
    assert "Hidden: Joke or nonsense" in row.inner_text()
    row.get_by_role("button", name="Unhide").click()
    page.locator(".flash").wait_for()
    card.refresh_from_db()
    assert card.hidden_at is None
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["unhide", "hide"]
