"""Production's web tier (docker-compose.yml) in headless Chromium: nginx with
deploy/nginx.conf.template in front of gunicorn for the pages and uvicorn for the reply
streams and the model waits, the static files from disk.

A participant goes from the link to the selection: every page through gunicorn, the
reply streamed word by word through nginx from uvicorn (not held back until it ends),
"See my card" and "Ask for this change" on uvicorn, css and scripts from nginx. The
servers' access logs say who served what.
"""

import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from bench._live import SplitServer
from elicitation.demo import load_demo_study
from elicitation.models import Question, ValuesCard
from tests.conftest import ARTIFACTS, ROOT, django_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ANSWERS = [
    "I think the AI should listen to her first, ask what she is afraid of, and tell her "
    "about the people and options she can still turn to.",
    "When my sister was pregnant at nineteen, our family sat with her for hours and in "
    "the end she decided for herself.",
    "I paid attention to her feelings of being pressured, to the people she trusted, and "
    "to the options she had not considered yet.",
]


@pytest.fixture
def split_tier(transactional_db, tmp_path, request):
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.fail("nginx is not installed: ./scripts/ensure-services.sh installs nginx-light")
    env = django_env(
        LLM_MODEL="offline",
        LLM_MAX_RETRIES="0",
        CELERY_BROKER_URL="filesystem://",
        VAR_DIR=str(tmp_path / "var"),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        OFFLINE_STREAM_DELAY_MS="20",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "tier"
    folder.mkdir()
    tier = SplitServer(
        env=env, folder=folder, workers=1, threads=4, stream_workers=1, nice=0, access_log=True
    )
    yield tier
    tier.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        saved = ARTIFACTS / "e2e" / f"{request.node.name}-logs"
        shutil.copytree(folder, saved, dirs_exist_ok=True)
        print(f"\n--- the servers' logs: {saved} ---\n{tier.log_text()[-6000:]}")
    connection.close()  # the servers' connections to the test database are gone


def _step(page, name: str):
    page.wait_for_url(f"**/{name}/", timeout=15_000)
    page.locator("#step h1").wait_for()


def _requests(log: str, slug: str) -> set[str]:
    """'METHOD /path' of every request line in a server's access log, the study's slug
    and ids written as in the URL patterns."""
    found = set()
    for method, path in re.findall(r'"(GET|POST) (/[^ "?]*)', log):
        found.add(f"{method} {re.sub(r'/[0-9]+/', '/N/', path.replace(slug, 'SLUG'))}")
    return found


def test_pages_go_to_gunicorn_streams_and_drafts_to_uvicorn_static_to_nginx(
    split_tier, browser, study
):
    base, slug = split_tier.url, study.slug
    page = browser.new_context().new_page()
    page.goto(f"{base}/s/{slug}/?PROLIFIC_PID=layout-one")
    _step(page, "consent")
    page.get_by_role("button", name="I agree").click()
    _step(page, "about")
    page.get_by_label("Independent").check()
    page.get_by_label("Your age").select_option("25-34")
    page.get_by_role("button", name="Continue").click()
    _step(page, "question")
    page.get_by_role("button", name="Start the interview").click()
    _step(page, "interview")

    # The reply's text length at every change: more than a few means it came in pieces.
    page.evaluate(
        """() => {
          window.__lengths = new Set();
          new MutationObserver(() => {
            const bubbles = document.querySelectorAll('#transcript .bubble-assistant .text');
            window.__lengths.add(bubbles[bubbles.length - 1].textContent.length);
          }).observe(document.getElementById('transcript'),
                     {subtree: true, childList: true, characterData: true});
        }"""
    )
    for sent, answer in enumerate(ANSWERS, start=1):
        page.wait_for_selector("#composer[data-ready]", state="attached")
        page.locator("#id_content").fill(answer)
        page.get_by_role("button", name="Send").click()
        page.wait_for_function(
            "n => document.querySelectorAll('#transcript .bubble-user').length >= n", arg=sent
        )
        page.wait_for_function("() => !document.querySelector('#transcript [data-stream-url]')")
        if sent == 1:
            assert page.evaluate("() => window.__lengths.size") > 3
    assert page.locator("#transcript .bubble-assistant .text").last.inner_text().strip()

    page.get_by_role("button", name="See my card").click()
    _step(page, "card")
    policies = page.locator("[name=policies]")
    drafted = policies.count()
    assert drafted >= 3
    page.get_by_label("Or ask the interviewer to change it").fill(
        'add "PEOPLE she trusts to listen without judging"'
    )
    page.get_by_role("button", name="Ask for this change").click()
    page.wait_for_function(
        "n => document.querySelectorAll('[name=policies]').length === n", arg=drafted + 1
    )
    page.get_by_role("button", name="This is my card").click()
    _step(page, "selection")
    assert ValuesCard.objects.get(participant__recruiter_pid="layout-one").status == (
        ValuesCard.Status.SUBMITTED
    )
    # The stylesheet as the page linked it, from the collected files on disk.
    stylesheet = page.locator("link[rel=stylesheet]").first.get_attribute("href")
    with urllib.request.urlopen(f"{base}{stylesheet}", timeout=10) as response:  # noqa: S310
        assert response.status == 200

    pages = _requests(split_tier.pages.log_text(), slug)
    streams = _requests(split_tier.streams.log_text(), slug)
    assert {
        "GET /s/SLUG/",
        "POST /s/SLUG/consent/",
        "POST /s/SLUG/about/",
        "POST /s/SLUG/interview/",
        "POST /s/SLUG/card/",
    } <= pages
    assert {
        "GET /s/SLUG/interview/reply/N/",
        "POST /s/SLUG/interview/card/",
        "POST /s/SLUG/card/revise/",
    } <= streams
    assert not {r for r in pages if "/interview/reply/" in r or "/revise/" in r}
    assert not {r for r in streams if r.endswith(("/consent/", "/about/", "/SLUG/card/"))}
    assert not {r for r in pages | streams if "/static/" in r}


@pytest.fixture
def study(transactional_db):
    study = load_demo_study()
    Question.objects.filter(study=study).exclude(key="abortion").delete()
    return study
