"""Load test of the participant journey: can one machine run a 500-person study?

    .venv/bin/python bench/load.py [--participants 100] [--concurrency 25] [--workers 2]
        [--database-url postgres://postgres@127.0.0.1:5432/mge_load] [--max-seconds 300]
        [--think-seconds 3-10] [--llm-latency-seconds 5] [--layout split|single]

Starts its own web tier on free 127.0.0.1 ports. By default production's layout
(``--layout split``, docker-compose.yml): nginx from deploy/nginx.conf.template in front,
gunicorn for the pages (``--workers`` processes of ``--threads`` threads), uvicorn for
the reply streams and the card's drafting and revising (``--stream-workers``, at
``--stream-nice``), the static files from disk; nginx must be installed (Debian:
nginx-light). ``--layout single`` runs the demo's one uvicorn (``--workers`` processes)
for everything, WhiteNoise serving the static files. Either runs against a
SQLite database in a temporary folder that it migrates (or the PostgreSQL database named
by ``--database-url``, created if missing), with the offline LLM streaming one word per
``--stream-delay-ms`` as in the demo. It creates a fresh open study with the demo's three
questions and seeded values and stories, and rate limits high enough not to matter (any
429 is still counted and reported).

Then ``--participants`` simulated participants, ``--concurrency`` at a time, walk the whole
journey over HTTP, sending what the browser with htmx sends, without a browser: the
recruitment link with PROLIFIC_PID=load-<n> (and the page's css and scripts, once),
consent, about you, the question, an interview of 3 or 4 messages (each posted, then its
Server-Sent Events stream read to the end, timing the first token and the whole stream),
"See my card", submitting the card, the selection, the judgments, the survey and the done
page. Forms and URLs are read from the pages themselves (html.parser), the CSRF token from
the forms and from ``hx-headers``. Without ``--think-seconds`` nobody pauses to think:
the figures are what the machine can take at most (journeys per minute), not what a real
study asks of it. ``--think-seconds MIN-MAX`` pauses a random MIN to MAX seconds before
each action (opening the link, each form sent, each message, "See my card"), as people
arriving, reading and typing do: then ``p95_non_llm_ms`` says how quickly pages answer a
study of that many people.

The server runs with production settings (DEBUG off, a random SECRET_KEY, static files
collected), over plain HTTP on loopback.

The offline card writer answers after ``--llm-latency-seconds`` (5 by default, a real
model's time to draft a card; LLM_OFFLINE_LATENCY_SECONDS in the server), so a view
that waited on the model inside a request shows up in every page's figures.
``p95_non_llm_ms`` is the 95th percentile of every request but the reply streams and
the card draft (which waits on the model by design); ``p95_all_but_streams_ms`` counts
the draft too. ``p95_step_ms`` is what a participant waits after each action (a link
opened, a form or a message sent; not the draft) until the page is there: its
redirects followed (a step sent with htmx answers with the next step at once; without
htmx, or before that change, it was a redirect and a second request).

Traffic goes to the server's 127.0.0.1 port only, and is bounded: no request starts after
``--max-seconds`` (or a first Ctrl-C), every request has a timeout, and journeys still
running a little after that are cut off and counted as unfinished. A second Ctrl-C
aborts. The server's process group is stopped in every case.

Afterwards it checks the database: one participant row per journey that consented, no
recruiter id twice, exactly one submitted card per finished participant, the messages,
judgments and survey answers as sent. The study is created and checked from this process
(Django set up with the server's environment, one connection, no pool). No Celery worker
runs: the tasks the journey enqueues (card processing, scoring) pile up in the temporary
filesystem broker, so these figures are the web tier's alone. CPU time is reported for
the server and for the simulated participants, who share the machine with it.

Progress and a table go to stdout; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import secrets
import shutil
import signal
import ssl
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _database import ensure_postgres_database, remove_study  # noqa: E402
from _live import HOST, ROOT, LiveServer, SplitServer  # noqa: E402
from _machine import machine_speed_ms  # noqa: E402

LOOPBACK_DB_HOSTS = {"", "127.0.0.1", "localhost", "::1"}
MAX_REDIRECTS = 5
# Journeys still running this long after the stop are cancelled and counted unfinished.
GRACE_SECONDS = 10.0
STEP_ORDER = (
    "static",
    "entry",
    "consent",
    "about",
    "question",
    "interview",
    "interview/reply",
    "interview/card",
    "card",
    "selection",
    "judgments",
    "survey",
    "done",
)
# Requests that wait on the model by design (the card draft; revising is not walked).
LLM_LABELS = {"POST interview/card"}
# How often a page may come back before the journey counts as stuck.
MAX_VISITS = {"judgments": 12}

MESSAGES = [
    "I think the AI should slow down and ask her what she is feeling before giving any "
    "advice, and make clear that the choice is hers.",
    "When my sister was pregnant at nineteen, our family sat with her for hours, and in "
    "the end she decided for herself. Nobody rushed her.",
    "I paid attention to whether she felt pressured, to the people she trusted, and to "
    "the options she had not considered yet.",
    "And to whether she had somewhere quiet to think, without anybody watching her.",
]


def say(message: str = "") -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------------------
# Reading pages
# ---------------------------------------------------------------------------------------


@dataclass
class Form:
    attrs: dict[str, str]
    fields: list[dict] = field(default_factory=list)  # inputs, textareas, selects, buttons

    @property
    def action(self) -> str:
        return self.attrs.get("action", "")

    def value(self, name: str) -> str:
        for f in self.fields:
            if f["name"] == name and f["kind"] not in ("submit", "checkbox", "radio"):
                return f["value"]
        return ""

    def options(self, name: str) -> list[str]:
        """Values of a radio or checkbox group."""
        return [f["value"] for f in self.fields if f["name"] == name and f["kind"] in _CHOICE]

    def data(self, rng: random.Random, **overrides) -> dict[str, str | list[str]]:
        """What a person filling it in would send: hidden and prefilled fields as they
        are, one option of every radio group and select, nothing for unchecked boxes."""
        data: dict[str, list[str]] = defaultdict(list)
        groups: dict[str, list[str]] = defaultdict(list)
        for f in self.fields:
            name, kind = f["name"], f["kind"]
            if not name or kind == "submit":
                continue
            if kind == "radio":
                groups[name].append(f["value"])
            elif kind == "checkbox":
                if f["checked"]:
                    data[name].append(f["value"])
            elif kind == "select":
                picked = [o for o in f["options"] if o]
                data[name].append(rng.choice(picked) if picked else "")
            else:
                data[name].append(f["value"])
        for name, choices in groups.items():
            data[name] = [rng.choice(choices)]
        out: dict[str, str | list[str]] = {k: v[0] if len(v) == 1 else v for k, v in data.items()}
        out.update(overrides)
        return out


_CHOICE = ("radio", "checkbox")
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "wbr",
}


class PageParser(HTMLParser):
    """The few things the journey needs from a page or a partial: its forms, the SSE
    stream URLs of pending replies, ``hx-headers``, error messages and element texts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.stream_urls: list[str] = []
        self.assets: list[str] = []  # stylesheets and scripts a browser would load
        self.hx_headers: dict = {}
        self.errors: list[str] = []
        self.texts: dict[str, str] = {}  # element id -> its text
        self._form: Form | None = None
        self._textarea: dict | None = None
        self._select: dict | None = None
        self._capture: list[list] = []  # [id or "error", tag, depth, parts]

    def _field(self, entry: dict) -> None:
        # Fields outside a <form> (an htmx out-of-band input) belong to no form.
        if self._form is not None:
            self._form.fields.append(entry)

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        for capture in self._capture:
            if capture[1] == tag:
                capture[2] += 1
        if "hx-headers" in a:
            with contextlib.suppress(ValueError):
                self.hx_headers.update(json.loads(a["hx-headers"]))
        if "data-stream-url" in a:
            self.stream_urls.append(a["data-stream-url"])
        if tag == "script" and a.get("src"):
            self.assets.append(a["src"])
        if tag == "link" and a.get("rel") == "stylesheet" and a.get("href"):
            self.assets.append(a["href"])
        if tag not in _VOID:
            if a.get("id"):
                self._capture.append([a["id"], tag, 1, []])
            if "error" in a.get("class", "").split():
                self._capture.append(["error", tag, 1, []])
        if tag == "form":
            self._form = Form(a)
            self.forms.append(self._form)
        elif tag == "input":
            kind = a.get("type", "text").lower()
            self._field(
                {
                    "kind": kind,
                    "name": a.get("name", ""),
                    "value": a.get("value", "on" if kind in _CHOICE else ""),
                    "checked": "checked" in a,
                    "id": a.get("id", ""),
                }
            )
        elif tag == "textarea":
            self._textarea = {"kind": "textarea", "name": a.get("name", ""), "value": ""}
            self._field(self._textarea)
        elif tag == "select":
            self._select = {"kind": "select", "name": a.get("name", ""), "options": []}
            self._field(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))
        elif tag == "button":
            kind = a.get("type", "submit").lower()
            self._field({"kind": kind, "name": a.get("name", ""), "value": a.get("value", "")})

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        for capture in list(self._capture):
            if capture[1] == tag:
                capture[2] -= 1
                if capture[2] == 0:
                    self._capture.remove(capture)
                    text = " ".join("".join(capture[3]).split())
                    if capture[0] == "error":
                        if text:
                            self.errors.append(text)
                    else:
                        self.texts[capture[0]] = text

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data
        for capture in self._capture:
            capture[3].append(data)


@dataclass
class Page:
    url: str  # path of the final response
    step: str
    status: int
    html: str
    parsed: PageParser

    def form(self, *, action_suffix: str = "", form_id: str = "") -> Form | None:
        for form in self.parsed.forms:
            if form_id and form.attrs.get("id") != form_id:
                continue
            if action_suffix and not form.action.endswith(action_suffix):
                continue
            return form
        return None


def step_of(path: str, slug: str) -> str:
    """The journey step a URL belongs to: /s/<slug>/interview/reply/7/ -> interview/reply."""
    prefix = f"/s/{slug}/"
    if path.startswith("/static/"):
        return "static"
    if not path.startswith(prefix):
        return path or "/"
    rest = path[len(prefix) :].strip("/")
    parts = [p for p in rest.split("/") if p and not p.isdigit()]
    return "/".join(parts) or "entry"


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # Each action until its page is there: its redirects followed, its assets not.
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    transport_errors: Counter = field(default_factory=Counter)
    ttft_ms: list[float] = field(default_factory=list)
    stream_ms: list[float] = field(default_factory=list)
    streams_failed: int = 0
    retry_after: list[str] = field(default_factory=list)
    # When each request ended (seconds into the run), its label and milliseconds; and
    # the server's and the machine's CPU seconds so far, sampled each second: the
    # timeline shows when in the run the slow requests were.
    ended: list[tuple[float, str, float]] = field(default_factory=list)
    cpu_samples: list[tuple[float, float, float]] = field(default_factory=list)
    # How late this process's event loop woke a task that slept LAG_TICK (seconds into
    # the run, ms late): a busy client times its own delay into every request.
    lags: list[tuple[float, float]] = field(default_factory=list)
    began: float = 0.0


class JourneyFailed(Exception):
    pass


class Stopped(Exception):
    """The run's time is up (or Ctrl-C): no more requests."""


@dataclass
class Journey:
    index: int
    pid: str
    status: str = "not_started"  # running, completed, failed, unfinished
    reason: str = ""
    consent_sent: bool = False
    consented: bool = False
    messages_attempted: int = 0
    messages_acked: int = 0
    judgments: int = 0
    seconds: float | None = None


# ---------------------------------------------------------------------------------------
# One participant's browser
# ---------------------------------------------------------------------------------------


# One TLS context for every simulated browser: httpx builds one per client unless given
# one, 20 ms of this process's CPU each (10 s for 500 participants starting together,
# taken from the server's two cores). The server is plain HTTP on loopback anyway.
_TLS = ssl.create_default_context()


class Browser:
    """An httpx client with this participant's cookies, which times every request and
    follows redirects by hand, only ever to the server it was given."""

    def __init__(self, run: Run):
        self.run = run
        self.base = run.base
        self.csrf = ""
        self.current = ""
        self.loaded: set[str] = set()
        self.client = httpx.AsyncClient(
            base_url=run.base,
            trust_env=False,  # never a proxy from the environment
            timeout=httpx.Timeout(run.args.timeout),
            follow_redirects=False,
            headers={"User-Agent": "mge-load/1"},
            limits=httpx.Limits(max_connections=4),
            verify=_TLS,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def _url(self, url: str) -> str:
        """A path on our server, refusing anything that would leave it."""
        absolute = urljoin(self.base + "/", url)
        parts = urlsplit(absolute)
        if parts.scheme != "http" or parts.hostname != HOST or parts.port != self.run.port:
            raise JourneyFailed(f"refused to leave the server: {url}")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _check_stop(self) -> None:
        if self.run.stop.is_set():
            raise Stopped

    def htmx_headers(self, *, boosted: bool, target: str) -> dict:
        headers = {
            "HX-Request": "true",
            "HX-Target": target,
            "HX-Current-URL": self.base + self.current,
        }
        if boosted:
            headers["HX-Boosted"] = "true"
        if self.csrf:
            headers["X-CSRFToken"] = self.csrf
        return headers

    async def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        self._check_stop()
        label = f"{method} {step_of(urlsplit(path).path, self.run.slug)}"
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            self.run.stats.transport_errors[f"{label}: timeout"] += 1
            raise JourneyFailed(f"{label}: timeout ({type(error).__name__})") from None
        except httpx.HTTPError as error:
            self.run.stats.transport_errors[f"{label}: {type(error).__name__}"] += 1
            raise JourneyFailed(f"{label}: {type(error).__name__}: {error}") from None
        now = time.perf_counter()
        self.run.stats.latencies[label].append((now - started) * 1000)
        self.run.stats.ended.append((now - self.run.stats.began, label, (now - started) * 1000))
        self.run.stats.statuses[response.status_code] += 1
        if response.status_code == 429:
            self.run.stats.retry_after.append(response.headers.get("Retry-After", ""))
        return response

    async def open(
        self, method: str, url: str, *, data=None, htmx: dict | None = None, expect=(200,)
    ) -> Page:
        """A request, its redirects followed as the browser (or htmx's XHR) would, and the
        final page parsed. An HX-Redirect is a full navigation, without htmx headers."""
        path = self._url(url)
        headers = dict(htmx or {})
        label = f"{method} {step_of(urlsplit(path).path, self.run.slug)}"
        started = time.perf_counter()
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._send(method, path, data=data, headers=headers)
            if response.is_redirect:
                path = self._url(response.headers["Location"])
                method, data = "GET", None
                continue
            if response.headers.get("HX-Redirect"):
                path = self._url(response.headers["HX-Redirect"])
                method, data, headers = "GET", None, {}
                continue
            break
        else:
            raise JourneyFailed(f"more than {MAX_REDIRECTS} redirects from {url}")
        self.run.stats.steps[label].append((time.perf_counter() - started) * 1000)
        parser = PageParser()
        parser.feed(response.text)
        # A step answered at once (elicitation.views.common.show_at_once) names its
        # address in HX-Push-Url, which htmx puts in the address bar.
        final = urlsplit(response.headers.get("HX-Push-Url") or str(response.url)).path
        page = Page(
            final, step_of(final, self.run.slug), response.status_code, response.text, parser
        )
        if response.status_code not in expect:
            said = "; ".join(parser.errors)[:200]
            raise JourneyFailed(
                f"{method} {page.step}: HTTP {response.status_code}"
                + (f" ({said})" if said else "")
            )
        if not headers.get("HX-Request") or headers.get("HX-Boosted"):
            self.current = final  # a navigation, or a boosted one (htmx pushes the URL)
        if parser.hx_headers.get("X-CSRFToken"):
            self.csrf = parser.hx_headers["X-CSRFToken"]
        for asset in parser.assets:
            # A whole page: its css and scripts, once per participant (then cached).
            if asset not in self.loaded:
                self.loaded.add(asset)
                loaded = await self._send("GET", self._url(asset))
                if loaded.status_code != 200:
                    raise JourneyFailed(f"GET {asset}: HTTP {loaded.status_code}")
        return page

    async def stream(self, url: str) -> None:
        """Read one reply's Server-Sent Events to the end: time to the first token, and
        to ``done``. A ``failed`` event, or none of the two, fails the journey."""
        path = self._url(url)
        self._check_stop()
        stats = self.run.stats
        started = time.perf_counter()
        first = None
        ended = None
        try:
            async with asyncio.timeout(self.run.args.stream_timeout):
                async with self.client.stream(
                    "GET",
                    path,
                    headers={"Accept": "text/event-stream", "Cache-Control": "no-cache"},
                ) as response:
                    stats.statuses[response.status_code] += 1
                    if response.status_code != 200:
                        raise JourneyFailed(f"SSE interview/reply: HTTP {response.status_code}")
                    event, data = "", []
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].removeprefix(" "))
                            if event == "token" and first is None:
                                first = time.perf_counter()
                        elif line == "" and event:
                            if event in ("done", "failed"):
                                ended = event
                                break
                            event, data = "", []
        except TimeoutError:
            stats.transport_errors["SSE interview/reply: timeout"] += 1
            raise JourneyFailed(
                f"SSE interview/reply: not finished in {self.run.args.stream_timeout:.0f}s"
            ) from None
        except httpx.HTTPError as error:
            stats.transport_errors[f"SSE interview/reply: {type(error).__name__}"] += 1
            raise JourneyFailed(f"SSE interview/reply: {type(error).__name__}: {error}") from None
        now = time.perf_counter()
        if ended != "done":
            stats.streams_failed += 1
            said = " ".join(data)[:160] if ended == "failed" else "stream closed early"
            raise JourneyFailed(f"SSE interview/reply: {ended or 'no end'} ({said})")
        stats.stream_ms.append((now - started) * 1000)
        if first is not None:
            stats.ttft_ms.append((first - started) * 1000)


# ---------------------------------------------------------------------------------------
# The journey
# ---------------------------------------------------------------------------------------


@dataclass
class Run:
    args: argparse.Namespace
    base: str
    port: int
    slug: str
    stop: asyncio.Event
    stats: Stats = field(default_factory=Stats)
    server_cpu_seconds: float = 0.0  # over the run, all server processes
    client_cpu_seconds: float = 0.0  # this process: the simulated participants


async def think(run: Run, rng: random.Random) -> None:
    """A person's pause before an action (``--think-seconds``); none by default."""
    low, high = run.args.think_seconds
    if high <= 0:
        return
    try:
        await asyncio.wait_for(run.stop.wait(), rng.uniform(low, high))
    except TimeoutError:
        return
    raise Stopped


async def walk(run: Run, journey: Journey) -> None:
    """One participant from the recruitment link to the completion code."""
    rng = random.Random(journey.index)
    browser = Browser(run)
    visits: Counter = Counter()
    try:
        query = urlencode(
            {"PROLIFIC_PID": journey.pid, "STUDY_ID": "load", "SESSION_ID": f"s{journey.index}"}
        )
        # The recruitment link is a plain navigation: the whole page, no htmx. People
        # open it after a pause too: a study's participants arrive over seconds, not in
        # one millisecond (without --think-seconds they do, to find the ceiling).
        await think(run, rng)
        page = await browser.open("GET", f"/s/{run.slug}/?{query}")
        boosted = {"boosted": True, "target": "step"}
        while True:
            visits[page.step] += 1
            if visits[page.step] > MAX_VISITS.get(page.step, 2):
                raise JourneyFailed(f"stuck on {page.step}")
            step = page.step
            if step == "done":
                if not page.parsed.texts.get("completion-code"):
                    raise JourneyFailed("done: no completion code on the page")
                return
            if step == "interview":
                page = await interview(journey, browser, page)
                continue
            form = page.form(action_suffix=f"/{step}/")
            if form is None:
                raise JourneyFailed(f"{step}: no form on the page")
            headers = browser.htmx_headers(**boosted)
            if step == "consent":
                data = form.data(rng, action="agree")
                journey.consent_sent = True
            elif step == "about":
                data = form.data(rng, action="save")
            elif step == "question":
                data = form.data(rng)
            elif step == "card":
                # Submitted as drafted: title, description and every policy line.
                data = form.data(rng, action="submit")
            elif step == "selection":
                shown = form.options("values")
                data = form.data(rng, values=rng.sample(shown, min(2, len(shown))))
            elif step == "judgments":
                data = form.data(rng, reason=rng.choice(["", "It keeps what mattered."]))
            elif step == "survey":
                data = form.data(rng, comment="")
            else:
                raise JourneyFailed(f"unexpected page {page.url}")
            await think(run, rng)
            page = await browser.open("POST", form.action, data=data, htmx=headers)
            if step == "consent":
                journey.consented = page.step != "consent"
            elif step == "judgments":
                journey.judgments += 1
    finally:
        await browser.aclose()


async def interview(journey: Journey, browser: Browser, page: Page) -> Page:
    """Send 3 or 4 messages, reading each reply's stream, then "See my card"."""
    composer = page.form(form_id="composer")
    if composer is None:
        raise JourneyFailed("interview: no composer")
    token = composer.value("client_token")
    see_card = None
    rng = random.Random(-journey.index)
    for text in MESSAGES[: 3 + journey.index % 2]:
        data = {
            "csrfmiddlewaretoken": composer.value("csrfmiddlewaretoken"),
            "client_token": token,
            "content": text,
        }
        await think(browser.run, rng)
        journey.messages_attempted += 1
        # The composer posts with hx-post (not boosted): the answer is the two new
        # bubbles, the reply's stream URL among them, and the next client token.
        exchange = await browser.open(
            "POST",
            composer.action,
            data=data,
            htmx=browser.htmx_headers(boosted=False, target="transcript"),
        )
        journey.messages_acked += 1
        if not exchange.parsed.stream_urls:
            raise JourneyFailed("POST interview: no reply to stream")
        await browser.stream(exchange.parsed.stream_urls[-1])
        fresh = [f["value"] for f in _loose_inputs(exchange.html, "client_token")]
        token = fresh[-1] if fresh else ""
        see_card = exchange.form(action_suffix="/interview/card/") or see_card
    if see_card is None:
        raise JourneyFailed("interview: no 'See my card' after the messages")
    await think(browser.run, rng)
    return await browser.open(
        "POST",
        see_card.action,
        data=see_card.data(random.Random(journey.index)),
        htmx=browser.htmx_headers(boosted=True, target="step"),
    )


def _loose_inputs(html: str, name: str) -> list[dict]:
    """Inputs named ``name`` anywhere, in a form or not (htmx out-of-band swaps)."""
    found = []
    for tag in re.findall(r"<input\b[^>]*>", html):
        if re.search(rf'\bname="{re.escape(name)}"', tag):
            value = re.search(r'\bvalue="([^"]*)"', tag)
            found.append({"value": value.group(1) if value else ""})
    return found


async def run_load(run: Run, journeys: list[Journey], server: LiveServer) -> float:
    """Walk every journey, ``concurrency`` at a time, until done or stopped. Returns the
    wall time in seconds."""
    args = run.args
    pending = iter(journeys)
    await asyncio.to_thread(server.sample)
    server_cpu = server.usage.cpu_seconds()
    client_cpu = _own_cpu_seconds()
    started = run.stats.began = time.perf_counter()
    machine_cpu = _machine_cpu_seconds()

    async def participant_loop():
        for journey in pending:
            if run.stop.is_set():
                return
            journey.status = "running"
            began = time.perf_counter()
            try:
                await walk(run, journey)
                journey.status = "completed"
            except Stopped:
                journey.status = "unfinished"
                journey.reason = "stopped"
            except JourneyFailed as failed:
                journey.status = "failed"
                journey.reason = str(failed)
            except asyncio.CancelledError:
                journey.status = "unfinished"
                journey.reason = "cut off after the stop"
                raise
            except Exception as error:  # a bug here, or a page we could not read
                journey.status = "failed"
                journey.reason = f"client error: {type(error).__name__}: {error}"
            finally:
                journey.seconds = time.perf_counter() - began

    async def watch():
        last = time.perf_counter()
        while True:
            await asyncio.sleep(1)
            await asyncio.to_thread(server.sample)
            run.stats.cpu_samples.append(
                (
                    time.perf_counter() - started,
                    server.usage.cpu_seconds() - server_cpu,
                    _machine_cpu_seconds() - machine_cpu,
                )
            )
            if time.perf_counter() - last >= 5:
                last = time.perf_counter()
                counts = Counter(j.status for j in journeys)
                say(
                    f"  {time.perf_counter() - started:6.1f}s  completed {counts['completed']}"
                    f"  failed {counts['failed']}  running {counts['running']}"
                    f"  waiting {counts['not_started']}"
                )

    async def lag():
        while True:
            before = time.perf_counter()
            await asyncio.sleep(LAG_TICK)
            now = time.perf_counter()
            run.stats.lags.append((now - started, (now - before - LAG_TICK) * 1000))

    async def deadline():
        try:
            await asyncio.wait_for(run.stop.wait(), args.max_seconds)
        except TimeoutError:
            say(f"  --max-seconds {args.max_seconds:.0f} reached: no new requests")
            run.stop.set()

    workers = [asyncio.create_task(participant_loop()) for _ in range(args.concurrency)]
    helpers = [asyncio.create_task(h()) for h in (watch, deadline, lag)]
    stopped = asyncio.create_task(run.stop.wait())
    remaining = set(workers)
    while remaining and not run.stop.is_set():
        done, _ = await asyncio.wait(remaining | {stopped}, return_when=asyncio.FIRST_COMPLETED)
        remaining -= done
    if remaining:
        # Stopped: let requests in flight end (each has its timeout), then cut off.
        _, late = await asyncio.wait(remaining, timeout=GRACE_SECONDS)
        for task in late:
            task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    wall = time.perf_counter() - started
    for task in [*helpers, stopped]:
        task.cancel()
    await asyncio.gather(*helpers, stopped, return_exceptions=True)
    await asyncio.to_thread(server.sample)
    run.server_cpu_seconds = server.usage.cpu_seconds() - server_cpu
    run.client_cpu_seconds = _own_cpu_seconds() - client_cpu
    return wall


def _machine_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used (the server, its database, these
    simulated participants, anything else), from /proc/stat: 0 where there is none."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    idle = int(fields[3]) + int(fields[4])  # idle and iowait
    return (sum(int(f) for f in fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main_async(run: Run, journeys: list[Journey], server: LiveServer) -> float:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def interrupt():
        if run.stop.is_set():
            say("  second interrupt: aborting")
            main.cancel()
        else:
            say("  interrupted: no new requests, reporting what ran (Ctrl-C again to abort)")
            run.stop.set()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    try:
        return await run_load(run, journeys, server)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)


# ---------------------------------------------------------------------------------------
# Database: create, migrate, seed, check
# ---------------------------------------------------------------------------------------


def server_env(args, var_dir: Path, database_url: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        # Per-stage models or a fault injection from the caller's shell would turn the
        # offline interviewer into something else.
        if not (k.startswith("LLM_") or k in ("EMBEDDING_MODEL", "DATABASE_POOL"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "VAR_DIR": str(var_dir),
            "CELERY_BROKER_URL": "filesystem://",
            # Production settings, as a real study runs: DEBUG off (no query log, no
            # debug cursor), static files collected and served by WhiteNoise. Plain HTTP
            # on loopback, so no HTTPS redirect, HSTS or secure-only cookies.
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SECURE_COOKIES": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "ALLOWED_HOSTS": HOST,
            "LLM_MODEL": "offline",
            "EMBEDDING_MODEL": "",
            "OFFLINE_STREAM_DELAY_MS": str(args.stream_delay_ms),
            "LLM_OFFLINE_LATENCY_SECONDS": (
                f"articulate:{args.llm_latency_seconds},revise:{args.llm_latency_seconds}"
            ),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_server(args, env: dict, folder: Path) -> LiveServer | SplitServer:
    if args.layout == "single":
        say(f"Starting uvicorn with {args.workers} workers (the demo's layout) ...")
        return LiveServer(env=env, workers=args.workers, log_path=folder / "uvicorn.log")
    say(
        f"Starting nginx, gunicorn with {args.workers} workers of {args.threads} threads for "
        f"the pages, uvicorn with {args.stream_workers} at nice {args.stream_nice} for the "
        "streams (the production layout) ..."
    )
    return SplitServer(
        env=env,
        folder=folder,
        workers=args.workers,
        threads=args.threads,
        stream_workers=args.stream_workers,
        nice=args.stream_nice,
    )


def setup_django(env: dict) -> None:
    os.environ.update(env)
    # This process only seeds and checks: one plain connection, no pool.
    os.environ["DATABASE_POOL"] = "false"
    os.chdir(ROOT)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)


def create_study(run_id: str) -> tuple[str, int]:
    """A fresh open study with the demo's questions, values and stories, and limits that
    a load test does not reach."""
    from django.db import transaction

    from elicitation.demo import DEMO_QUESTIONS, _seed_graph
    from elicitation.models import Question, Study

    with transaction.atomic():
        study = Study.objects.create(
            slug=f"load-{run_id}",
            title=f"Load test {run_id}",
            description="A load test of the participant journey.",
            status=Study.Status.LIVE,
            messages_per_minute=1000,
            messages_per_hour_study=1_000_000,
            # Every simulated participant comes from this machine's one address: the
            # per-address sign-up limit (an abuse guard, tested on its own) is off here.
            signups_per_address_hour=0,
        )
        questions = {
            q["key"]: Question.objects.create(study=study, position=i, **q)
            for i, q in enumerate(DEMO_QUESTIONS)
        }
        _seed_graph(study, questions)
    return study.slug, study.pk


def check_database(study_id: int, journeys: list[Journey]) -> tuple[dict, dict]:
    """Compare what the database holds with what the participants did. Returns the
    checks (name -> bool) and the figures behind them."""
    from django.db.models import Count

    from elicitation.models import (
        Message,
        Participant,
        SurveyAnswer,
        ValuesCard,
        WiserJudgment,
    )

    pid = "participant__recruiter_pid"
    rows = Participant.objects.filter(study_id=study_id)
    steps = dict(rows.values_list("recruiter_pid", "step"))
    duplicates = list(
        rows.values("recruiter_pid")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("recruiter_pid", "n")
    )
    cards = dict(
        ValuesCard.objects.filter(study_id=study_id, status=ValuesCard.Status.SUBMITTED)
        .exclude(participant=None)
        .values(pid)
        .annotate(n=Count("id"))
        .values_list(pid, "n")
    )
    messages = Message.objects.filter(interview__participant__study_id=study_id)
    ipid = "interview__participant__recruiter_pid"
    user_messages = dict(
        messages.filter(role=Message.Role.USER)
        .values(ipid)
        .annotate(n=Count("id"))
        .values_list(ipid, "n")
    )
    replies = dict(
        messages.filter(role=Message.Role.ASSISTANT)
        .values(ipid)
        .annotate(n=Count("id"))
        .values_list(ipid, "n")
    )
    unfinished_replies = dict(
        messages.filter(role=Message.Role.ASSISTANT)
        .exclude(status=Message.Status.COMPLETE)
        .values(ipid)
        .annotate(n=Count("id"))
        .values_list(ipid, "n")
    )
    judged = dict(
        WiserJudgment.objects.filter(participant__study_id=study_id)
        .values(pid)
        .annotate(n=Count("id"))
        .values_list(pid, "n")
    )
    surveyed = set(
        SurveyAnswer.objects.filter(participant__study_id=study_id).values_list(pid, flat=True)
    )

    ours = {j.pid: j for j in journeys}
    completed = [j for j in journeys if j.status == "completed"]
    started = [j for j in journeys if j.consent_sent]
    confirmed = {j.pid for j in journeys if j.consented}
    in_db = set(steps)
    mismatched_messages = [
        p
        for p in in_db
        if p in ours
        and not (
            ours[p].messages_acked <= user_messages.get(p, 0) <= ours[p].messages_attempted
            and (ours[p].status != "completed" or user_messages.get(p, 0) == ours[p].messages_acked)
        )
    ]
    checks = {
        # Every journey that agreed has its row, and nothing else does: rows are
        # completed + failed (+ cut off) journeys, a failed consent may or may not have one.
        "participants_eq_completed_plus_failed": confirmed <= in_db <= {j.pid for j in started},
        "participants_not_ours": not (in_db - set(ours)),
        "completed_are_done_in_db": all(steps.get(j.pid) == "done" for j in completed),
        "one_submitted_card_per_completed": all(cards.get(j.pid, 0) == 1 for j in completed),
        "no_participant_with_two_submitted_cards": all(n <= 1 for n in cards.values()),
        "no_duplicate_participants_per_pid": not duplicates,
        "messages_per_interview_as_sent": not mismatched_messages,
        "replies_complete_for_completed": all(
            unfinished_replies.get(j.pid, 0) == 0
            and replies.get(j.pid, 0) == user_messages.get(j.pid, 0) + 1
            for j in completed
        ),
        "judgments_as_sent": all(judged.get(j.pid, 0) == j.judgments for j in completed),
        "survey_per_completed": all(j.pid in surveyed for j in completed),
    }
    figures = {
        "participants_in_db": len(in_db),
        "journeys_that_sent_consent": len(started),
        "journeys_past_consent": len(confirmed),
        "completed": len(completed),
        "failed_or_unfinished_with_consent": len(started) - len(completed),
        "done_in_db": sum(1 for s in steps.values() if s == "done"),
        "submitted_cards": sum(cards.values()),
        "user_messages": sum(user_messages.values()),
        "duplicates": duplicates[:5],
        "messages_mismatched": sorted(mismatched_messages)[:5],
    }
    return checks, figures


# ---------------------------------------------------------------------------------------
# The server's log
# ---------------------------------------------------------------------------------------


_CHAINED = ("During handling", "The above exception")


def _log_records(log: str) -> list[dict]:
    """Split the server's output into records: a message line, then any traceback (with
    its chained ones). Each record's ``exception`` is the last exception line in it."""
    records: list[dict] = []
    in_frames = False
    for line in log.splitlines():
        if not line.strip():
            continue
        top = not line.startswith((" ", "\t"))
        if line.startswith("Traceback (most recent call last)"):
            in_frames = True
            if not records or records[-1].get("closed"):
                records.append({"head": line, "lines": []})
        elif in_frames and top:
            in_frames = False  # the exception line closes the frames
            records[-1]["exception"] = line.strip()[:300]
        elif top and not line.startswith(_CHAINED):
            if records:
                records[-1]["closed"] = True
            records.append({"head": line.strip()[:300], "lines": []})
        if records:
            records[-1]["lines"].append(line)
    for record in records:
        record.pop("closed", None)
    return records


def server_errors(log: str) -> dict:
    """The errors in uvicorn's output, by their exception and by path. With DEBUG, Django
    prints each error twice, one after the other (its own console handler and the root
    one's): a record followed by its copy is counted once."""
    records, pending = [], _log_records(log)
    i = 0
    while i < len(pending):
        records.append(pending[i])
        twice = i + 1 < len(pending) and pending[i + 1]["lines"] == pending[i]["lines"]
        i += 2 if twice else 1
    errors = [
        r
        for r in records
        if "exception" in r or r["head"].startswith(("ERROR", "Internal Server Error"))
    ]
    exceptions = Counter(r.get("exception", r["head"]) for r in errors)
    paths = Counter(
        re.sub(r"/\d+/", "/<id>/", r["head"].split(":", 1)[1].strip())
        for r in errors
        if r["head"].startswith("Internal Server Error:")
    )
    return {
        "errors": len(errors),
        "internal_server_errors": sum(paths.values()),
        "exceptions": dict(exceptions.most_common(5)),
        "internal_server_error_paths": dict(paths.most_common(5)),
        "first_error_heads": [r["head"] for r in errors[:3]],
    }


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def _order(label: str) -> tuple:
    method, _, step = label.partition(" ")
    index = STEP_ORDER.index(step) if step in STEP_ORDER else len(STEP_ORDER)
    return (index, method != "GET", label)


TIMELINE_SECONDS = 15.0
LAG_TICK = 0.05


def _cpu_at(samples: list[tuple[float, float, float]], t: float) -> tuple[float, float]:
    """(server, machine) CPU seconds at the last sample no later than ``t``."""
    found = (0.0, 0.0)
    for when, server, machine in samples:
        if when > t:
            break
        found = (server, machine)
    return found


def timeline(stats: Stats, wall: float) -> list[dict]:
    """Per TIMELINE_SECONDS of the run: the requests that ended in it (all but the
    streams and the card draft), their p95, and how busy the server and the whole machine
    were (shares of all CPUs)."""
    cpus = os.cpu_count() or 1
    windows = []
    start = 0.0
    while start < wall:
        end = min(start + TIMELINE_SECONDS, wall)
        values = [
            ms for t, label, ms in stats.ended if start <= t < end and label not in LLM_LABELS
        ]
        (server_a, machine_a), (server_b, machine_b) = (
            _cpu_at(stats.cpu_samples, start),
            _cpu_at(stats.cpu_samples, end),
        )
        span = (end - start) * cpus
        lags = [ms for t, ms in stats.lags if start <= t < end]
        windows.append(
            {
                "from_s": round(start),
                "requests": len(values),
                "p95_non_llm_ms": _ms(percentile(values, 0.95)),
                "server_cpu_share": round((server_b - server_a) / span, 2) if span else None,
                "machine_cpu_share": round((machine_b - machine_a) / span, 2) if span else None,
                "client_lag_ms_p95": _ms(percentile(lags, 0.95)),
            }
        )
        start = end
    return windows


def report(run: Run, journeys: list[Journey], wall: float, extra: dict) -> dict:
    stats = run.stats
    counts = Counter(j.status for j in journeys)
    failures = Counter(j.reason for j in journeys if j.status == "failed")
    latency = {}
    say()
    say(f"{'request':<26}{'count':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for label in sorted(stats.latencies, key=_order):
        values = stats.latencies[label]
        row = {
            "count": len(values),
            "p50": _ms(percentile(values, 0.50)),
            "p95": _ms(percentile(values, 0.95)),
            "p99": _ms(percentile(values, 0.99)),
            "max": _ms(max(values)),
        }
        latency[label] = row
        say(
            f"{label:<26}{row['count']:>7}{row['p50']:>10.1f}{row['p95']:>10.1f}"
            f"{row['p99']:>10.1f}{row['max']:>10.1f}"
        )
    sse = {
        "streams": len(stats.stream_ms),
        "failed": stats.streams_failed,
        "ttft_ms_p50": _ms(percentile(stats.ttft_ms, 0.50)),
        "ttft_ms_p95": _ms(percentile(stats.ttft_ms, 0.95)),
        "duration_ms_p50": _ms(percentile(stats.stream_ms, 0.50)),
        "duration_ms_p95": _ms(percentile(stats.stream_ms, 0.95)),
    }
    for name, values in (("SSE first token", stats.ttft_ms), ("SSE whole stream", stats.stream_ms)):
        if values:
            say(
                f"{name:<26}{len(values):>7}{percentile(values, 0.5):>10.1f}"
                f"{percentile(values, 0.95):>10.1f}{percentile(values, 0.99):>10.1f}"
                f"{max(values):>10.1f}"
            )
    durations = [j.seconds for j in journeys if j.status == "completed"]
    # Every request but the streams (those are timed apart, above), without and with the
    # card draft, which waits on the model by design.
    non_llm = [
        v for label, values in stats.latencies.items() if label not in LLM_LABELS for v in values
    ]
    all_but_streams = [v for values in stats.latencies.values() for v in values]
    steps = [v for label, values in stats.steps.items() if label not in LLM_LABELS for v in values]
    statuses = {str(k): v for k, v in sorted(stats.statuses.items())}
    per_minute = counts["completed"] / (wall / 60) if wall else None
    say()
    say(
        f"journeys: {counts['completed']} completed, {counts['failed']} failed, "
        f"{counts['unfinished']} unfinished, {counts['not_started']} not started "
        f"in {wall:.1f}s ({per_minute:.1f} per minute)"
    )
    if durations:
        say(
            f"one journey: p50 {percentile(durations, 0.5):.1f}s, "
            f"p95 {percentile(durations, 0.95):.1f}s "
            + ("(no thinking time)" if not run.args.think_seconds[1] else "(with thinking time)")
        )
    if non_llm:
        say(
            "p95 of every request but the streams and the card draft: "
            f"{percentile(non_llm, 0.95):.1f} ms"
        )
    cpus = os.cpu_count() or 1
    server_busy = run.server_cpu_seconds / (wall * cpus) if wall else 0.0
    client_busy = run.client_cpu_seconds / (wall * cpus) if wall else 0.0
    say(
        f"CPU: server {run.server_cpu_seconds:.0f}s ({server_busy:.0%} of {cpus} CPUs), "
        f"simulated participants {run.client_cpu_seconds:.0f}s ({client_busy:.0%})"
    )
    windows = timeline(stats, wall)
    say()
    say(
        f"{'from s':>7}{'requests':>10}{'p95 ms':>10}{'server CPU':>12}{'machine CPU':>13}"
        f"{'client lag p95 ms':>19}"
    )
    for w in windows:
        p95 = f"{w['p95_non_llm_ms']:.0f}" if w["p95_non_llm_ms"] is not None else "-"
        say(
            f"{w['from_s']:>7}{w['requests']:>10}{p95:>10}"
            f"{w['server_cpu_share']:>12.0%}{w['machine_cpu_share']:>13.0%}"
            f"{w['client_lag_ms_p95'] or 0:>19.0f}"
        )
    say(f"HTTP statuses: {statuses}")
    if stats.transport_errors:
        say(f"transport errors: {dict(stats.transport_errors)}")
    for reason, n in failures.most_common(5):
        say(f"  failed x{n}: {reason}")
    return {
        "benchmark": "load",
        "participants": len(journeys),
        "concurrency": run.args.concurrency,
        "workers": run.args.workers,
        "layout": run.args.layout,
        **(
            {
                "threads": run.args.threads,
                "stream_workers": run.args.stream_workers,
                "stream_nice": run.args.stream_nice,
            }
            if run.args.layout == "split"
            else {}
        ),
        "completed": counts["completed"],
        "failed": counts["failed"],
        "unfinished": counts["unfinished"],
        "not_started": counts["not_started"],
        "first_errors": [f"{reason} (x{n})" for reason, n in failures.most_common(5)],
        "wall_seconds": round(wall, 2),
        "journeys_per_minute": round(per_minute, 1) if per_minute is not None else None,
        "journey_seconds_p50": round(percentile(durations, 0.5), 2) if durations else None,
        "journey_seconds_p95": round(percentile(durations, 0.95), 2) if durations else None,
        "p95_non_llm_ms": _ms(percentile(non_llm, 0.95)),
        "p95_all_but_streams_ms": _ms(percentile(all_but_streams, 0.95)),
        "p95_step_ms": _ms(percentile(steps, 0.95)),
        "think_seconds": list(run.args.think_seconds),
        "llm_latency_seconds": run.args.llm_latency_seconds,
        "latency_ms": latency,
        "sse": sse,
        "http_status": statuses,
        "http_429": stats.statuses.get(429, 0),
        "http_5xx": sum(n for code, n in stats.statuses.items() if code >= 500),
        "transport_errors": dict(stats.transport_errors),
        "server_cpu_seconds": round(run.server_cpu_seconds, 1),
        "server_cpu_share": round(server_busy, 3),
        "client_cpu_seconds": round(run.client_cpu_seconds, 1),
        "cpus": cpus,
        "stream_delay_ms": run.args.stream_delay_ms,
        "timeline": windows,
        **extra,
    }


# ---------------------------------------------------------------------------------------


def think_range(text: str) -> tuple[float, float]:
    """``3-10`` -> (3.0, 10.0); ``5`` -> (5.0, 5.0)."""
    low, _, high = text.partition("-")
    try:
        pair = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MIN-MAX seconds, e.g. 3-10") from None
    if not 0 <= pair[0] <= pair[1] <= 600:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0 <= MIN <= MAX <= 600")
    return pair


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument(
        "--layout",
        choices=["split", "single"],
        default="split",
        help="split: production's nginx, gunicorn for the pages and uvicorn for the streams "
        "(docker-compose.yml); single: one uvicorn for everything (the demo's)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="the pages' server processes (single: uvicorn's)"
    )
    parser.add_argument("--threads", type=int, default=8, help="split: threads per page process")
    parser.add_argument(
        "--stream-workers", type=int, default=1, help="split: the streams' uvicorn processes"
    )
    parser.add_argument(
        "--stream-nice", type=int, default=10, help="split: the streams' server's nice value"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="postgres://... on this machine (created and migrated if missing); "
        "default: SQLite in a temporary folder",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="no request starts after this (default 300, or 900 with --think-seconds)",
    )
    parser.add_argument(
        "--think-seconds",
        type=think_range,
        default=(0.0, 0.0),
        metavar="MIN-MAX",
        help="pause a random MIN to MAX seconds before each action (default: none)",
    )
    parser.add_argument(
        "--llm-latency-seconds",
        type=float,
        default=5.0,
        help="the offline card writer's time to draft or revise a card (default 5)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--stream-timeout", type=float, default=90.0, help="per reply stream")
    parser.add_argument("--stream-delay-ms", type=int, default=25, help="offline LLM, per word")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder, the log and the study"
    )
    args = parser.parse_args(argv)
    if args.max_seconds is None:
        args.max_seconds = 900.0 if args.think_seconds[1] else 300.0
    if not 0 <= args.llm_latency_seconds <= 600:
        parser.error("--llm-latency-seconds must be 0 to 600")
    if args.participants < 1 or args.concurrency < 1 or args.workers < 1:
        parser.error("--participants, --concurrency and --workers must be at least 1")
    if args.database_url:
        parts = urlsplit(args.database_url)
        if parts.scheme not in ("postgres", "postgresql"):
            parser.error("--database-url must be postgres://...")
        if (parts.hostname or "") not in LOOPBACK_DB_HOSTS:
            parser.error("--database-url must be on this machine (127.0.0.1 or localhost)")
    return args


def _terminated(signum, frame):
    raise KeyboardInterrupt  # so that the server is stopped on the way out


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    folder = Path(tempfile.mkdtemp(prefix="mge-load-"))
    server = None
    try:
        database_url = args.database_url or f"sqlite:///{folder / 'load.sqlite3'}"
        database = "postgresql" if args.database_url else "sqlite"
        if args.database_url:
            ensure_postgres_database(args.database_url)
        env = server_env(args, folder / "var", database_url)
        say(f"Migrating the {database} database and creating the study ...")
        setup_django(env)
        slug, study_id = create_study(run_id)
        from django.db import connections

        connections.close_all()

        speed = machine_speed_ms()
        say(f"Machine speed: {speed} ms for the reference work (lower is faster)")
        server = start_server(args, env, folder)
        say(
            f"{server.url}/s/{slug}/: {args.participants} participants, {args.concurrency} at "
            f"a time, at most {args.max_seconds:.0f}s"
        )
        run = Run(args=args, base=server.url, port=server.port, slug=slug, stop=asyncio.Event())
        journeys = [Journey(i, f"load-{i}") for i in range(args.participants)]
        wall = asyncio.run(main_async(run, journeys, server))
        signal.signal(signal.SIGTERM, _terminated)  # the loop put back the default

        server.stop()
        memory = server.usage.summary(*server.roots)
        errors = server_errors(server.log_text())
        checks, figures = check_database(study_id, journeys)
        if not args.keep:
            # Each run starts from the same database: a study left behind would make the
            # next run's tables larger than this one's.
            from elicitation.models import Study

            remove_study(Study.objects.get(pk=study_id))
        connections.close_all()
        figures_out = report(
            run,
            journeys,
            wall,
            {
                "server_errors": errors,
                "server_memory": memory,
                "consistency": checks,
                "consistency_figures": figures,
                "database": database,
                "study": slug,
                "machine_speed_ms": speed,
            },
        )
        say(
            f"server errors: {errors['errors']} in the log, "
            f"{errors['internal_server_errors']} of them internal server errors"
        )
        for line, n in errors["exceptions"].items():
            say(f"  x{n}: {line}")
        say(
            f"server memory: peak RSS {memory['peak_rss_mib_max']} MiB in one process, "
            f"{memory['peak_rss_mib_total_sampled']} MiB for all {memory['processes']} together"
        )
        say(
            "consistency: " + ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in checks.items())
        )
        if args.keep:
            say(f"kept {folder}")
        print(json.dumps(figures_out, separators=(",", ":")), flush=True)
        ok = all(checks.values()) and figures_out["failed"] == 0
        return 0 if ok else 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("aborted")
        return 130
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
