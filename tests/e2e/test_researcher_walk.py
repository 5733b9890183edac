"""A researcher runs a study from start to end in headless Chromium, against uvicorn and
a real Celery worker: creates it at /research/new/ with two questions, opens its
settings, moves it to pilot, pilots it with the test link, runs a 20-participant
simulation and reads its cost estimate, launches, watches the dashboard while a
participant takes part, hides that participant's junk card, stops new participants
and exports. This is the walk of README's "Running a study"; its screenshots go to
test-artifacts/screenshots/walk-*.png (a curated set of them is in docs/screenshots/).
"""

import csv
import io
import json
import re
import uuid
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from elicitation.models import Participant, Study, ValuesCard
from moralgraph.models import AuditEntry, SimulationRun
from tests.conftest import ARTIFACTS, WorkerProcess, django_env
from tests.e2e.conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PASSWORD = "a long test password"
DESKTOP = {"width": 1280, "height": 860}
SLUG = "ai-and-grief"
QUEUE = f"walk-{uuid.uuid4().hex[:10]}"
# No streaming delay and no retries, in the server and the worker alike: the walk and
# the 20 simulated participants go as fast as the offline models allow.
FAST = {"OFFLINE_STREAM_DELAY_MS": "0", "CELERY_QUEUE": QUEUE}
PILOT_ANSWERS = [
    "I would want the AI to ask what she already knows before saying anything.",
    "When my uncle was dying, the nurse who just listened helped us the most.",
]
JUNK_ANSWERS = [
    "lol whatever, pizza is the answer to everything",
    "bananas bananas bananas",
    "I dunno, ask my cat",
]


@pytest.fixture
def live_server_env():
    return dict(FAST)


@pytest.fixture
def worker(uvicorn_server, tmp_path, request):
    """A worker on the server's broker (a folder under the same VAR_DIR) and queue."""
    worker = WorkerProcess(
        django_env(
            LLM_MODEL="offline",
            LLM_MAX_RETRIES="0",
            LLM_RETRY_BASE_SECONDS="0",
            CELERY_BROKER_URL="filesystem://",
            VAR_DIR=str(tmp_path / "var"),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            **FAST,
        ),
        QUEUE,
        ARTIFACTS / "workers" / f"{request.node.name}.log",
    )
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def researcher(django_user_model):
    user = django_user_model.objects.create_user("researcher", password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="add_study"))
    return user


def _picture(page, name: str, part=None):
    """A screen-sized picture for README (docs/screenshots/ holds a copy of these): the
    top of the page, or one part of it."""
    folder = SCREENSHOTS / "docs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    if part is not None:
        part.screenshot(path=str(path))
    else:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path))


def _step(page, name: str):
    page.wait_for_url(f"**/{name}/", timeout=20_000)
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
    page.get_by_role("button", name=button, exact=True).click()
    page.locator("#study-status").filter(has_text=status).wait_for()


def _into_interview(page):
    _step(page, "consent")
    page.get_by_role("button", name="I agree").click()
    _step(page, "about")
    page.get_by_role("button", name="Continue").click()
    _step(page, "question")
    page.get_by_role("button", name="Start the interview").click()
    _step(page, "interview")


def test_a_researcher_runs_a_study_from_setup_to_export(
    uvicorn_server, worker, browser, screenshots, researcher
):
    base = uvicorn_server.url
    page = browser.new_context(viewport=DESKTOP).new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # --- 1. Create: a title and two questions ---------------------------------------
    page.goto(f"{base}/research/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/research/")
    page.click("text=New study")
    page.wait_for_url(f"{base}/research/new/")
    page.fill("#id_title", "How should an AI talk with someone who is grieving?")
    page.fill("#id_slug", SLUG)
    page.fill("#id_questions-0-key", "loss")
    page.fill("#id_questions-0-title", "A recent loss")
    page.fill(
        "#id_questions-0-text",
        "My father died last month and I keep asking an AI about it at night. "
        "How should it answer me?",
    )
    page.click("#suggest-questions")
    page.locator("[data-suggestion]").first.wait_for()
    page.locator("[data-suggestion] [data-add-suggestion]").first.click()
    assert page.input_value("#id_questions-1-key") != ""
    screenshots(page, "walk-01-create")
    _picture(page, "walk-01-create")
    page.click("text=Create the study")

    # --- 2. Its settings, then pilot -----------------------------------------------
    page.wait_for_url(f"{base}/research/{SLUG}/settings/")
    page.locator(".flash", has_text="Study created, in draft").wait_for()
    assert page.locator("#study-status").inner_text() == "Draft"
    study = Study.objects.get(slug=SLUG)
    assert study.questions.count() == 2
    assert page.locator("#simulate-link").is_visible()
    _move(page, "Pilot", "Trying it with the team first.", "Pilot")
    screenshots(page, "walk-02-settings-pilot")
    _picture(page, "walk-02-pilot")
    test_link = page.locator("#test-link").inner_text()
    assert test_link.endswith(f"/s/{SLUG}/test/{Study.objects.get(pk=study.pk).pilot_token}/")

    # --- 3. Pilot with the test link, in another browser ----------------------------
    tester_context = browser.new_context(viewport=DESKTOP)
    tester = tester_context.new_page()
    tester.goto(test_link)
    _into_interview(tester)
    for text in PILOT_ANSWERS:
        _send(tester, text)
    assert tester.locator("#transcript .bubble.is-failed").count() == 0
    screenshots(tester, "walk-03-pilot-interview")
    _picture(tester, "walk-03-test-link", tester.locator("#step"))
    assert Participant.objects.get(study=study).is_test
    tester_context.close()

    # --- 4. Simulate 20 participants and read the cost estimate ---------------------
    page.get_by_role("navigation", name="This study").get_by_role("link", name="Simulate").click()
    page.wait_for_url(f"{base}/research/{SLUG}/simulate/")
    page.fill("#id_participants", "20")
    page.fill("#id_planned", "400")
    page.get_by_role("button", name="Run the simulation").click()
    page.locator(".flash", has_text="20 participants").wait_for()
    run = SimulationRun.objects.get(study=study)
    # The page polls while the run goes on, and shows its figures when it is done.
    page.locator(f"#run-{run.pk} .estimate-total").wait_for(timeout=150_000)
    run.refresh_from_db()
    assert run.status == SimulationRun.Status.DONE, run.error
    assert run.figures["completed"] == 20
    article = page.locator(f"#run-{run.pk}")
    assert "Cost estimate for 400 participants" in article.inner_text()
    total = article.locator(".estimate-total").inner_text()
    # The offline models have no price: the estimate says so rather than "$0.00".
    assert total == "unknown price" or total.startswith("$")
    screenshots(page, "walk-04-simulate")
    _picture(page, "walk-04-simulate", article)
    assert Participant.objects.filter(study=study, is_test=True).count() == 21

    # --- 5. Launch, and watch the dashboard while someone takes part ----------------
    _move(page, "Launch", "The pilot and the simulation look right.", "Live")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(f"{base}/research/{SLUG}/")
    participant_context = browser.new_context(viewport=DESKTOP)
    visitor = participant_context.new_page()
    visitor.goto(f"{base}/s/{SLUG}/")
    _into_interview(visitor)
    for text in JUNK_ANSWERS:
        _send(visitor, text)
    visitor.get_by_role("button", name="See my card").click()
    _step(visitor, "card")
    visitor.get_by_role("button", name="This is my card").click()
    # On to the next step (with no counted value yet there is nothing to select).
    visitor.wait_for_url(re.compile(r".*/(selection|judgments|survey)/$"), timeout=20_000)
    card = ValuesCard.objects.get(study=study, participant__is_test=False)
    assert card.status == ValuesCard.Status.SUBMITTED
    # The dashboard refreshes itself: the participant, their card and, once the worker
    # has placed it, its value appear (the 21 test participants and their values are
    # left out).
    participants = page.locator(".kpi", has_text="Participants").locator(".kpi-value")
    cards = page.locator(".kpi", has_text="Cards · values").locator(".kpi-value")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.kpi')].some(k =>
             k.textContent.includes('Cards') &&
             /^1\\s*·\\s*1$/.test(k.querySelector('.kpi-value').textContent.trim()))""",
        timeout=60_000,
    )
    assert participants.inner_text().strip() == "1"
    assert " ".join(cards.inner_text().split()) == "1 · 1"
    screenshots(page, "walk-05-dashboard")
    _picture(page, "walk-05-dashboard")

    # --- 6. Hide the junk card, with a reason ---------------------------------------
    page.get_by_role("link", name="Moderation").click()
    page.wait_for_url(f"{base}/research/{SLUG}/moderation/")
    row = page.locator(f"#card-{card.pk}")
    assert row.locator(".pill", has_text="test").count() == 0
    row.locator("select[name=reason]").select_option("joke")
    row.locator("input[name=note]").fill("Jokes about pizza and bananas, not an answer.")
    row.get_by_role("button", name="Hide").click()
    page.locator(f"#card-{card.pk} .pill", has_text="Hidden: Joke or nonsense").wait_for()
    card.refresh_from_db()
    assert card.hidden_at is not None and card.hidden_reason == "joke"
    entry = AuditEntry.objects.get(study=study, action="hide")
    assert entry.actor == researcher and "pizza" in entry.reason
    assert page.locator("#audit").get_by_text("pizza").count() >= 1
    screenshots(page, "walk-06-moderation")
    _picture(page, "walk-06-moderation")

    # --- 7. Stop new participants: the one inside may finish ------------------------
    _move(page, "Stop new participants", "Enough for this round.", "Closing")
    assert Study.objects.get(pk=study.pk).status == Study.Status.CLOSING
    assert list(
        AuditEntry.objects.filter(study=study, action="status")
        .order_by("created_at")
        .values_list("details__to", flat=True)
    ) == ["pilot", "live", "closing"]
    screenshots(page, "walk-07-closing")
    _picture(page, "walk-07-closing")
    participant_context.close()

    # --- 8. Export: the CSV tables and the graph JSON -------------------------------
    page.get_by_role("link", name="Exports").click()
    page.wait_for_url(f"{base}/research/{SLUG}/exports/")
    screenshots(page, "walk-08-exports")
    _picture(page, "walk-08-exports")
    with page.expect_download() as download:
        page.get_by_role("link", name="csv", exact=True).click()
    path = download.value.path()
    with zipfile.ZipFile(path) as bundle:
        tables = {
            name.rsplit("/", 1)[-1]: list(csv.DictReader(io.StringIO(bundle.read(name).decode())))
            for name in bundle.namelist()
            if name.endswith(".csv")
        }
    assert {"questions.csv", "cards.csv", "participants.csv"} <= tables.keys(), tables.keys()
    assert len(tables["questions.csv"]) == 2
    # The one counted card is hidden, the others are test participants': none is exported.
    assert tables["cards.csv"] == []
    assert len(tables["participants.csv"]) == 1  # the 21 test participants are left out
    with page.expect_download() as download:
        page.get_by_role("link", name="graph-json", exact=True).click()
    graph = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert len(graph["questions"]) == 2
    assert graph["values"] == []
    assert errors == []
