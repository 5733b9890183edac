"""The study lifecycle in headless Chromium, against uvicorn: an owner pilots the demo
study with its test link, launches it and moves it to closing from the page head; the
public is turned away from the pilot and from the closing study, while the tester, who
was mid-interview, goes on talking (the reply streams) and reaches their card.
Screenshots go to test-artifacts/screenshots/lifecycle-*.png."""

import pytest

from elicitation.demo import load_demo_study
from elicitation.models import Participant, Study, StudyMember
from moralgraph.models import AuditEntry

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DESKTOP = {"width": 1366, "height": 900}
ANSWERS = [
    "I think the AI should listen to her first and not rush her.",
    "When my sister faced a choice like this, our family sat with her for hours.",
    "I paid attention to her feelings of being pressured and to the people she trusted.",
]


@pytest.fixture
def study(transactional_db):
    study = load_demo_study()
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PILOT)
    study.refresh_from_db()
    return study


@pytest.fixture
def owner(django_user_model, study):
    user = django_user_model.objects.create_user(
        "owner", password="a long test password", is_staff=True
    )
    StudyMember.objects.create(study=study, user=user, role=StudyMember.Role.OWNER)
    return user


def _step(page, name: str):
    page.wait_for_url(f"**/{name}/", timeout=15_000)
    page.locator("#step h1").wait_for()


def _send(page, text: str):
    page.wait_for_selector("#composer[data-ready]", state="attached")
    page.locator("#id_content").fill(text)
    sent = page.locator("#transcript .bubble-user").count() + 1  # before: see test_journey
    page.get_by_role("button", name="Send").click()
    page.wait_for_function(
        "n => document.querySelectorAll('#transcript .bubble-user').length >= n", arg=sent
    )
    page.wait_for_function("() => !document.querySelector('#transcript [data-stream-url]')")


def _move(page, button: str, reason: str, status: str):
    page.fill("#lifecycle-reason", reason)
    page.get_by_role("button", name=button).click()
    page.locator("#study-status").filter(has_text=status).wait_for()


def test_pilot_launch_and_close_while_a_tester_finishes(
    uvicorn_server, browser, screenshots, study, owner
):
    base = uvicorn_server.url

    # The public cannot see a pilot.
    public = browser.new_context(viewport=DESKTOP).new_page()
    assert public.goto(f"{base}/s/{study.slug}/").status == 404

    # The owner finds the test link in the page head.
    researcher = browser.new_context(viewport=DESKTOP).new_page()
    researcher.goto(f"{base}/research/{study.slug}/")
    researcher.wait_for_url("**/accounts/login/**")
    researcher.fill("#id_username", "owner")
    researcher.fill("#id_password", "a long test password")
    researcher.click("form button[type=submit]")
    researcher.wait_for_url(f"{base}/research/{study.slug}/")
    assert researcher.locator("#study-status").inner_text() == "Pilot"
    test_link = researcher.locator("#test-link").inner_text()
    assert test_link.endswith(f"/s/{study.slug}/test/{study.pilot_token}/")
    screenshots(researcher, "lifecycle-01-pilot-head")

    # A tester walks in by the test link, to the middle of the interview.
    tester = browser.new_context(viewport=DESKTOP).new_page()
    tester.goto(test_link)
    _step(tester, "consent")
    tester.get_by_role("button", name="I agree").click()
    _step(tester, "about")
    assert tester.locator("#test-run-note").is_visible()
    tester.get_by_role("button", name="Continue").click()
    _step(tester, "question")
    tester.get_by_role("button", name="Start the interview").click()
    _step(tester, "interview")
    _send(tester, ANSWERS[0])
    participant = Participant.objects.get(study=study)
    assert participant.is_test

    # Launch, then stop new participants.
    _move(researcher, "Launch", "The pilot went well.", "Live")
    _move(researcher, "Stop new participants", "Enough participants.", "Closing")
    screenshots(researcher, "lifecycle-02-closing-head")
    assert list(
        AuditEntry.objects.filter(study=study, action="status")
        .order_by("created_at")
        .values_list("details__to", "reason", "actor")
    ) == [
        ("live", "The pilot went well.", owner.pk),
        ("closing", "Enough participants.", owner.pk),
    ]

    # Nobody new comes in: a clear page.
    response = public.goto(f"{base}/s/{study.slug}/")
    assert response.status == 410
    assert "not taking new participants" in public.locator("#step h1").inner_text()
    screenshots(public, "lifecycle-03-closing-new-arrival")

    # The tester inside finishes the interview (the replies stream) and gets their card.
    for text in ANSWERS[1:]:
        _send(tester, text)
    assert tester.locator("#transcript .bubble.is-failed").count() == 0
    tester.get_by_role("button", name="See my card").click()
    _step(tester, "card")
    screenshots(tester, "lifecycle-04-closing-tester-card")
    assert Participant.objects.get(pk=participant.pk).step == Participant.Step.CARD
