"""Simulate before launch: persona participants walk the real journey, and the run's
figures say how long each step takes, what the LLM stages cost per participant, and
what the planned number of participants will cost at the configured models.

Each simulated participant is a ``django.test.Client`` with CSRF checks on: it reads
the pages as a browser would (forms, their CSRF tokens, the interview's stream URL,
any htmx polling), posts what its persona writes (the ``simulate`` LLM stage), reads
the interviewer's reply from the Server-Sent Events stream, and goes from consent to
done through the same URLs, middleware and views as anyone else. Only the study's
test link lets it in, or, where a study has none, the ordinary link, the participant
marked as a test participant the moment it exists. Test participants are left out of
every count, score and export (``elicitation.selectors.counted_participants``), and
they spend real money like anyone else: the study's budget cap counts them, and a run
may have a budget of its own.

After the walk, one reconciliation pass places the new cards (dedup, contexts,
stories), so the background stages are measured too. The figures count the study's
LLM calls made while the run lasted: a pilot's, as nobody else takes part then.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from statistics import median
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Count, Sum
from django.test import AsyncClient, Client
from django.urls import Resolver404, resolve
from django.utils import timezone

from elicitation import llm
from elicitation.llm import accounting
from elicitation.llm.models import LLMCall
from elicitation.models import Participant, Study
from moralgraph.models import SimulationRun
from moralgraph.services import reconcile
from moralgraph.services.personas import Persona, persona_for

logger = logging.getLogger(__name__)

STEPS = ("consent", "about", "question", "interview", "card", "selection", "judgments", "survey")
DEFAULT_PLANNED = 500
# The persona's own stage is the simulation's cost, not a participant's: left out of
# the estimate for real participants.
PERSONA_STAGE = "simulate"
# A simulated participant gives up after this many page loads (a loop in the journey).
MAX_PAGES = 120
MAX_WAIT_SECONDS = 30.0


class SimulationStopped(Exception):
    """The run's own budget was spent: no new participant or message."""


# ---------------------------------------------------------------------------
# Pages: the forms a browser would see
# ---------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: list[dict] = field(default_factory=list)  # inputs, selects, textareas
    buttons: list[dict] = field(default_factory=list)  # named submit buttons

    def names(self) -> set[str]:
        return {f["name"] for f in self.fields}


def _button(attrs: dict) -> dict:
    """A submit button: its name and value, and where it sends the form if not to the
    form's action (``formaction``)."""
    return {
        "name": attrs.get("name", ""),
        "value": attrs.get("value", ""),
        "formaction": attrs.get("formaction", ""),
    }


class _PageParser(HTMLParser):
    """Forms (inputs, selects, textareas, buttons) and htmx attributes of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.stream_urls: list[str] = []
        self.polls: list[str] = []
        self._form: Form | None = None
        self._select: dict | None = None
        self._textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if "data-stream-url" in a:
            self.stream_urls.append(a["data-stream-url"])
        if "hx-get" in a and "every" in a.get("hx-trigger", ""):
            self.polls.append(a["hx-get"])
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind == "submit":
                self._form.buttons.append(_button(a))
            else:
                self._form.fields.append(
                    {
                        "tag": "input",
                        "type": kind,
                        "name": a["name"],
                        "value": a.get("value", "on" if kind in ("checkbox", "radio") else ""),
                        "checked": "checked" in a,
                    }
                )
        elif tag == "button":
            if a.get("type", "submit") == "submit":
                self._form.buttons.append(_button(a))
        elif tag == "select" and a.get("name"):
            self._select = {"tag": "select", "name": a["name"], "options": [], "value": ""}
            self._form.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))
            if "selected" in a:
                self._select["value"] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = {"tag": "textarea", "name": a["name"], "value": ""}
            self._form.fields.append(self._textarea)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def parse_page(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    return parser


def _path(url: str) -> str:
    return urlsplit(url).path


def _step_of(path: str, slug: str) -> str:
    rest = path.removeprefix(f"/s/{slug}/").strip("/")
    word = rest.split("/")[0] if rest else "entry"
    return word or "entry"


def _stable_index(n: int, *keys) -> int:
    digest = hashlib.sha256("\0".join(str(k) for k in keys).encode()).digest()
    return int.from_bytes(digest[:4], "big") % max(1, n)


def _browser(address: str) -> tuple[dict, dict, dict]:
    """What a browser on this deployment would send: an allowed host, the scheme the
    site redirects to, and a same-origin Referer (which CSRF checks over https). As
    ``Client`` defaults, the options of every request and the headers."""
    hosts = [h.lstrip(".") for h in settings.ALLOWED_HOSTS if h and h != "*"]
    host = hosts[0] if hosts else "testserver"
    scheme = "https" if getattr(settings, "SECURE_SSL_REDIRECT", False) else "http"
    headers = {"host": host, "referer": f"{scheme}://{host}/"}
    wsgi = {"REMOTE_ADDR": address, "SERVER_NAME": host}
    return wsgi, {"secure": scheme == "https"}, headers


class _AsyncBrowser(AsyncClient):
    """The async test client with this deployment's host and the participant's address
    (it always says "testserver" from 127.0.0.1 otherwise)."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__()
        self.host, self.address = host, address

    def _base_scope(self, **request):
        scope = super()._base_scope(**request)
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"]
        scope["headers"].append((b"host", self.host.encode("idna")))
        scope["client"] = [self.address, 0]
        return scope


# ---------------------------------------------------------------------------
# One simulated participant
# ---------------------------------------------------------------------------


@dataclass
class Walk:
    """What happened to one simulated participant."""

    index: int
    persona: str
    participant_id: int | None = None
    reached: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    messages: int = 0
    error: str = ""


class Walker:
    """One persona walking the journey through the test client, as a browser would."""

    def __init__(
        self,
        *,
        study: Study,
        index: int,
        persona: Persona,
        model: str,
        guard: Callable[[], None],
    ) -> None:
        self.study = study
        self.index = index
        self.persona = persona
        self.model = model
        self.guard = guard
        # Each participant its own address, as distinct people would have.
        self.address = f"198.18.{index // 250 % 250}.{index % 250 + 1}"
        wsgi, self.options, self.headers = _browser(self.address)
        self.client = Client(enforce_csrf_checks=True, headers=self.headers, **wsgi)
        self.walk = Walk(index=index, persona=persona.key)
        self.transcript: list[dict] = []
        self.edited = False
        self.judged = 0

    # -- the persona's words, from the LLM ---------------------------------------------

    def _say(self, task: str, **payload) -> str:
        prompt = llm.load_prompt("moralgraph/simulate")
        data = {
            "task": task,
            "persona": self.persona.as_payload(),
            "question": self._question_text(),
            **payload,
        }
        # --model: the persona's model for this run, instead of LLM_SIMULATE_MODEL.
        reply = llm.structured(
            stage=PERSONA_STAGE,
            prompt=prompt,
            payload=data,
            study=self.study,
            model=self.model or None,
        )
        return reply["reply"]

    def _question_text(self) -> str:
        participant = self._participant()
        if participant is not None and participant.question_id:
            return participant.question.text
        return ""

    def _participant(self) -> Participant | None:
        if self.walk.participant_id is None:
            key = self.client.session.session_key
            found = (
                Participant.objects.filter(study=self.study, session_key=key).first()
                if key
                else None
            )
            if found is None:
                return None
            # Marked at once, however the participant came in (the test link marks it
            # too; marking twice changes nothing).
            Participant.objects.filter(pk=found.pk, is_test=False).update(is_test=True)
            self.walk.participant_id = found.pk
        return (
            Participant.objects.select_related("question")
            .filter(pk=self.walk.participant_id)
            .first()
        )

    # -- pages -----------------------------------------------------------------------

    def _get(self, url: str, **extra):
        return self.client.get(url, follow=True, **self.options, **extra)

    def _post(self, url: str, data, **extra):
        return self.client.post(url, data, **self.options, **extra)

    def _settle(self, response):
        """Follow a POST's redirect (or an htmx redirect header) to the page it leads to."""
        target = response.headers.get("HX-Redirect") or response.headers.get("HX-Location")
        if response.status_code in (301, 302, 303) or target:
            return self._get(target or response["Location"])
        return response

    def _where(self, response) -> str:
        chain = getattr(response, "redirect_chain", None)
        url = chain[-1][0] if chain else response.request["PATH_INFO"]
        return _step_of(_path(url), self.study.slug)

    def _form(self, page: _PageParser, action_end: str) -> Form | None:
        for form in page.forms:
            if form.method == "post" and _path(form.action).endswith(action_end):
                return form
        return None

    @staticmethod
    def _values(form: Form, choose: Callable[[dict, list[str]], list[str]] | None = None) -> dict:
        """The form as a browser would send it; ``choose`` picks radios and selects."""
        data: dict[str, list[str]] = defaultdict(list)
        radios: dict[str, list[str]] = defaultdict(list)
        checkboxes: dict[str, list[str]] = defaultdict(list)
        for f in form.fields:
            if f["tag"] == "input" and f["type"] == "radio":
                radios[f["name"]].append(f["value"])
                if f["checked"]:
                    data[f["name"]] = [f["value"]]
            elif f["tag"] == "input" and f["type"] == "checkbox":
                checkboxes[f["name"]].append(f["value"])
                if f["checked"]:
                    data[f["name"]].append(f["value"])
            elif f["tag"] == "select":
                data[f["name"]] = [f["value"]] if f["value"] else []
                if choose is not None:
                    options = [o for o in f["options"] if o]
                    data[f["name"]] = choose(f, options) or data[f["name"]]
            else:
                data[f["name"]].append(f["value"])
        if choose is not None:
            for name, options in radios.items():
                data[name] = choose({"name": name, "type": "radio"}, options) or data[name]
            for name, options in checkboxes.items():
                data[name] = choose({"name": name, "type": "checkbox"}, options)
        return {k: v if len(v) != 1 else v[0] for k, v in data.items() if v != []}

    # -- the walk ----------------------------------------------------------------------

    def run(self) -> Walk:
        try:
            self._run()
        except SimulationStopped as stopped:
            self.walk.error = str(stopped)
        except Exception as exc:  # one participant's failure is a figure, not the run's end
            logger.exception("simulated participant %s failed", self.index)
            self.walk.error = f"{type(exc).__name__}: {exc}"[:500]
        return self.walk

    def _enter(self):
        # The study's test link where the site has one; the ordinary link otherwise.
        test_link = f"/s/{self.study.slug}/test/{self.study.pilot_token}/"
        try:
            resolve(test_link)
        except Resolver404:
            return self._get(f"/s/{self.study.slug}/")
        return self._get(test_link)

    def _run(self) -> None:
        self.guard()
        response = self._enter()
        step = self._where(response)
        arrived = time.monotonic()
        for _ in range(MAX_PAGES):
            if response.status_code >= 400 and step not in STEPS:
                raise RuntimeError(f"{step}: HTTP {response.status_code}")
            if step == "done":
                break
            if self.walk.participant_id is None:
                self._participant()
            handler = getattr(self, f"_on_{step}", None)
            if handler is None:
                raise RuntimeError(f"unexpected page {step!r} (HTTP {response.status_code})")
            response = handler(response)
            now_at = self._where(response)
            if now_at != step:
                self.walk.seconds[step] = self.walk.seconds.get(step, 0.0) + (
                    time.monotonic() - arrived
                )
                arrived = time.monotonic()
            step = now_at
        else:
            raise RuntimeError(f"stuck at {step} after {MAX_PAGES} pages")
        self.walk.reached = step
        self._participant()

    def _on_entry(self, response):
        """The study's link (or test link) showed a page of its own, not consent: the
        study is closed to this participant (not open, or a limit), or it asks first."""
        page = parse_page(response.content.decode())
        if self._form(page, "/consent/") is None:
            raise RuntimeError(f"no way in: HTTP {response.status_code}")
        return self._on_consent(response)

    _on_test = _on_entry

    def _on_consent(self, response):
        page = parse_page(response.content.decode())
        form = self._form(page, "/consent/")
        if form is None:
            raise RuntimeError("no consent form")
        data = self._values(form)
        data["action"] = "agree"
        return self._settle(self._post(form.action, data))

    def _on_about(self, response):
        page = parse_page(response.content.decode())
        form = self._form(page, "/about/")
        if form is None:
            raise RuntimeError("no about form")

        def choose(f: dict, options: list[str]) -> list[str]:
            wanted = self.persona.about.get(f["name"])
            if wanted in options:
                return [wanted]
            if not options or f.get("type") == "checkbox":
                return []
            return [options[_stable_index(len(options), self.persona.key, f["name"])]]

        data = self._values(form, choose)
        data["action"] = "save"
        return self._settle(self._post(form.action, data))

    def _on_question(self, response):
        page = parse_page(response.content.decode())
        form = self._form(page, "/question/")
        if form is None:
            raise RuntimeError("no question form")
        return self._settle(self._post(form.action, self._values(form)))

    def _on_interview(self, response):
        page = parse_page(response.content.decode())
        finish = self._form(page, "/interview/card/")
        said = self.walk.messages
        if page.polls and said >= self.persona.turns:
            # The card is being drafted in the background: poll as the page's htmx does.
            return self._poll(page.polls[0], "interview")
        if finish is not None and said >= self.persona.turns:
            return self._settle(self._post(finish.action, self._values(finish)))
        composer = self._form(page, "/interview/")
        if composer is None:
            raise RuntimeError("no composer on the interview page")
        for url in page.stream_urls:  # a reply still owed from before: read it first
            self._read_stream(url)
        self.guard()
        text = self._say("interview", transcript=self.transcript)
        data = self._values(composer)
        data["content"] = text
        sent = self._post(composer.action, data, HTTP_HX_REQUEST="true")
        if sent.status_code == 429:
            wait = min(float(sent.get("Retry-After", "5") or 5), MAX_WAIT_SECONDS)
            time.sleep(wait)
            return self._get(composer.action)
        if sent.status_code >= 400:
            raise RuntimeError(f"message refused: HTTP {sent.status_code}")
        self.walk.messages += 1
        self.transcript.append({"role": "participant", "content": text})
        exchange = parse_page(sent.content.decode())
        if exchange.stream_urls:
            reply = self._read_stream(exchange.stream_urls[-1])
            self.transcript.append({"role": "interviewer", "content": reply})
        return self._get(composer.action)

    def _poll(self, url: str, step: str):
        """Wait on a page that polls (htmx ``every``) until it moves on or has no more to
        wait for, then load where the participant is."""
        waited = 0.0
        while waited < MAX_WAIT_SECONDS:
            time.sleep(0.5)
            waited += 0.5
            polled = self.client.get(url, HTTP_HX_REQUEST="true", **self.options)
            target = polled.headers.get("HX-Redirect") or polled.headers.get("HX-Location")
            if target or polled.status_code in (301, 302, 303):
                return self._settle(polled)
            if not parse_page(polled.content.decode()).polls:
                break
        return self._get(f"/s/{self.study.slug}/{step}/")

    def _read_stream(self, url: str) -> str:
        """Read a reply's Server-Sent Events to the end, as the page's EventSource does."""
        cookies = self.client.cookies
        headers, options, address = self.headers, self.options, self.address

        async def go() -> str:
            stream_client = _AsyncBrowser(headers["host"], address)
            stream_client.cookies = cookies
            response = await stream_client.get(
                url, headers={"referer": headers["referer"]}, **options
            )
            if not response.streaming:
                return ""
            parts = [
                chunk.decode() if isinstance(chunk, bytes) else chunk
                async for chunk in response.streaming_content
            ]
            return "".join(parts)

        text, failed = [], ""
        for block in async_to_sync(go)().split("\n\n"):
            lines = block.split("\n")
            name = next((line[7:] for line in lines if line.startswith("event: ")), "")
            data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
            if name == "token":
                text.append(data)
            elif name == "failed":
                failed = data
        if failed:
            raise RuntimeError(f"the interviewer's reply failed: {failed}")
        return html.unescape("".join(text))

    def _on_card(self, response):
        page = parse_page(response.content.decode())
        form = self._form(page, "/card/")
        if form is None and page.polls:
            # The draft is being written in the background: wait as the page does.
            response = self._poll(page.polls[0], "card")
            if self._where(response) != "card":
                return response
            page = parse_page(response.content.decode())
            form = self._form(page, "/card/")
        if form is None:
            # Past the card already (a submitted card shown read-only): go on.
            onward = [f for f in page.forms if f.method == "post"]
            if not onward:
                raise RuntimeError("no card form")
            return self._settle(self._post(onward[0].action, self._values(onward[0])))
        data = self._values(form)
        buttons = {b["value"]: b for b in form.buttons}
        if self.persona.edits_card and not self.edited and "revise" in buttons:
            self.edited = True
            card = {
                "title": data.get("title", ""),
                "description": data.get("description", ""),
                "policies": data.get("policies", []),
            }
            self.guard()
            data["request"] = self._say("revise", card=card)
            data["action"] = "revise"
            # Where the button sends the form, as a browser does (its formaction).
            revised = self._post(buttons["revise"]["formaction"] or form.action, data)
            if revised.status_code == 200:
                return revised
            response = self._get(form.action)
            form = self._form(parse_page(response.content.decode()), "/card/") or form
            data = self._values(form)
        data["action"] = "submit"
        data.pop("request", None)
        return self._settle(self._post(form.action, data))

    def _on_selection(self, response):
        page = parse_page(response.content.decode())
        form = self._form(page, "/selection/")
        if form is None:
            raise RuntimeError("no selection form")
        picks = self.persona.picks

        def choose(f: dict, options: list[str]) -> list[str]:
            if f.get("type") != "checkbox":
                return options[:1]
            start = _stable_index(len(options), self.persona.key, "pick")
            return [options[(start + i) % len(options)] for i in range(min(picks, len(options)))]

        sent = self._post(form.action, self._values(form, choose))
        if sent.status_code == 400:  # fewer than the study asks for: pick them all
            picks = 99
            sent = self._post(form.action, self._values(form, choose))
        return self._settle(sent)

    def _on_judgments(self, response):
        page = parse_page(response.content.decode())
        form = self._form(page, "/judgments/")
        if form is None:
            raise RuntimeError("no judgment form")
        self.judged += 1

        def choose(f: dict, options: list[str]) -> list[str]:
            if f["name"] != "verdict" or not options:
                return []
            leaning = self.persona.leaning
            if leaning in options and _stable_index(3, self.persona.key, self.judged) != 0:
                return [leaning]
            return [options[_stable_index(len(options), self.persona.key, self.judged, "v")]]

        data = self._values(form, choose)
        if self.persona.writes_reasons and "reason" in form.names():
            self.guard()
            data["reason"] = self._say("reason", verdict=data.get("verdict", ""), story="")
        return self._settle(self._post(form.action, data))

    def _on_survey(self, response):
        page = parse_page(response.content.decode())
        form = self._form(page, "/survey/")
        if form is None:
            raise RuntimeError("no survey form")

        def choose(f: dict, options: list[str]) -> list[str]:
            if not options or f.get("type") == "checkbox":
                return []
            return [options[_stable_index(len(options), self.persona.key, f["name"])]]

        return self._settle(self._post(form.action, self._values(form, choose)))


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def step_times(walks: list[Walk]) -> dict[str, dict]:
    """Seconds per step: median and 95th percentile over the participants who took it."""
    figures = {}
    for step in STEPS:
        values = [w.seconds[step] for w in walks if step in w.seconds]
        if values:
            figures[step] = {
                "n": len(values),
                "median_s": round(median(values), 3),
                "p95_s": round(_p95(values), 3),
            }
    return figures


def stage_usage(study: Study, since, until, participants: int) -> dict[str, dict]:
    """The study's LLM calls between ``since`` and ``until``, per stage: totals and per
    participant."""
    rows = (
        LLMCall.objects.filter(study=study, created_at__gte=since, created_at__lte=until)
        .order_by()
        .values("stage", "model")
        .annotate(
            calls=Count("pk"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
        )
    )
    stages: dict[str, dict] = {}
    for row in rows:
        stage = stages.setdefault(
            row["stage"],
            {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0, "models": []},
        )
        stage["calls"] += row["calls"]
        stage["input_tokens"] += row["input_tokens"] or 0
        stage["output_tokens"] += row["output_tokens"] or 0
        stage["cost"] += float(row["cost"] or 0)
        stage["models"].append(row["model"])
    n = max(1, participants)
    order = {name: i for i, name in enumerate(llm.stage_names())}
    figures = {}
    for name in sorted(stages, key=lambda s: (order.get(s, len(order)), s)):
        stage = stages[name]
        figures[name] = {
            **stage,
            "cost": round(stage["cost"], 6),
            "models": sorted(set(stage["models"])),
            "per_participant": {
                "calls": round(stage["calls"] / n, 2),
                "input_tokens": round(stage["input_tokens"] / n, 1),
                "output_tokens": round(stage["output_tokens"] / n, 1),
            },
        }
    return figures


def cost_estimate(
    study: Study, usage: dict[str, dict], planned: int, price_model: str = ""
) -> dict:
    """What ``planned`` participants would cost: each stage's tokens per participant
    times the price of the model configured for it (``price_model`` for every stage
    instead, if given), from litellm's cost map. A stage whose model has no price there
    (the offline model has none) is "unknown price", and so is the total then."""
    stages = {}
    total = 0.0
    unknown = []
    for name, figures in usage.items():
        if name == PERSONA_STAGE:
            continue
        model = price_model or llm.model_for(name, study)
        price = accounting.price_per_token(model)
        per = figures["per_participant"]
        if price is None:
            stages[name] = {"model": model, "price": "unknown price", "usd": None}
            unknown.append(name)
            continue
        usd = planned * (per["input_tokens"] * price[0] + per["output_tokens"] * price[1])
        stages[name] = {
            "model": model,
            "price": {"input_per_mtok": price[0] * 1e6, "output_per_mtok": price[1] * 1e6},
            "usd": round(usd, 4),
        }
        total += usd
    return {
        "planned_participants": planned,
        "price_model": price_model,
        "stages": stages,
        "total_usd": None if unknown or not stages else round(total, 2),
        "unknown_price": unknown,
        "note": "Per-participant tokens of this run times the planned number; "
        "reconciliation grows faster than linearly with many cards."
        + (
            " The offline provider counts words as tokens: real models count about a third more."
            if any(llm.OFFLINE in figures.get("models", ()) for figures in usage.values())
            else ""
        ),
    }


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def planned_for(study: Study, planned: int | None) -> int:
    return planned or study.max_completed or DEFAULT_PLANNED


def simulation_create(
    *,
    study: Study,
    participants: int,
    planned: int | None = None,
    model: str = "",
) -> SimulationRun:
    if participants < 1:
        raise ValueError("a simulation needs at least one participant")
    return SimulationRun.objects.create(
        study=study,
        participants=participants,
        planned_participants=planned_for(study, planned),
        model=model,
    )


def simulation_run(
    *,
    run: SimulationRun,
    concurrency: int = 1,
    budget_usd: Decimal | None = None,
    price_model: str = "",
    reconcile_after: bool = True,
    progress: Callable[[Walk], None] | None = None,
) -> SimulationRun:
    """Walk ``run.participants`` personas through the journey and store the figures.

    ``budget_usd`` is the run's own budget: once the study's LLM calls since the run
    began cost that much, no persona starts another participant or message. Marks the
    run done (or failed, with the reason) and returns it.
    """
    study = Study.objects.get(pk=run.study_id)
    started = timezone.now()
    SimulationRun.objects.filter(pk=run.pk).update(status=SimulationRun.Status.RUNNING)
    stop = threading.Event()

    def guard() -> None:
        if stop.is_set():
            raise SimulationStopped("the run's budget is spent")
        if budget_usd is None:
            return
        spent = LLMCall.objects.filter(study=study, created_at__gte=started).aggregate(
            total=Sum("cost")
        )["total"] or Decimal(0)
        if spent >= budget_usd:
            stop.set()
            raise SimulationStopped(f"the run's budget of ${budget_usd} is spent")

    def walk_one(index: int) -> Walk:
        threaded = threading.current_thread() is not threading.main_thread()
        if threaded:
            close_old_connections()
        try:
            walker = Walker(
                study=study, index=index, persona=persona_for(index), model=run.model, guard=guard
            )
            walk = walker.run()
            if progress:
                progress(walk)
            return walk
        finally:
            if threaded:
                connection.close()

    wall = time.monotonic()
    try:
        if concurrency <= 1:
            walks = [walk_one(i) for i in range(run.participants)]
        else:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                walks = list(pool.map(walk_one, range(run.participants)))
        reconciled = None
        if reconcile_after and not stop.is_set():
            try:
                reconciled = reconcile.reconcile_study(study=study).as_dict()
            except llm.LLMError as failed:
                reconciled = {"error": str(failed)}
        finished = timezone.now()
        figures = _figures(
            study,
            run,
            walks,
            started,
            finished,
            wall=time.monotonic() - wall,
            concurrency=concurrency,
            price_model=price_model,
            reconciled=reconciled,
            budget_usd=budget_usd,
        )
    except Exception as exc:
        logger.exception("simulation %s failed", run.pk)
        SimulationRun.objects.filter(pk=run.pk).update(
            status=SimulationRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        run.refresh_from_db()
        return run
    errors = [f"participant {w.index} ({w.persona}): {w.error}" for w in walks if w.error]
    SimulationRun.objects.filter(pk=run.pk).update(
        status=SimulationRun.Status.DONE,
        figures=figures,
        error="\n".join(errors)[:4000],
        finished_at=finished,
    )
    run.refresh_from_db()
    return run


def _figures(
    study, run, walks, started, finished, *, wall, concurrency, price_model, reconciled, budget_usd
) -> dict:
    done = [w for w in walks if w.reached == "done"]
    usage = stage_usage(study, started, finished, len(walks))
    planned = run.planned_participants or planned_for(study, None)
    measured = sum(stage["cost"] for name, stage in usage.items() if name != PERSONA_STAGE)
    return {
        "participants": len(walks),
        "completed": len(done),
        "test_participants": Participant.objects.filter(
            pk__in=[w.participant_id for w in walks if w.participant_id], is_test=True
        ).count(),
        "concurrency": concurrency,
        "wall_seconds": round(wall, 2),
        "personas": sorted({w.persona for w in walks}),
        "messages_per_participant": round(sum(w.messages for w in walks) / max(1, len(walks)), 2),
        "steps": step_times(walks),
        "stages": usage,
        "measured_cost_usd": round(measured, 6),
        "estimate": cost_estimate(study, usage, planned, price_model),
        "reconcile": reconciled,
        "budget_usd": float(budget_usd) if budget_usd is not None else None,
        "errors": [w.error for w in walks if w.error][:20],
    }


def simulation_start(*, run_id: int) -> SimulationRun | None:
    """Claim a queued run and run it (the background task); None if someone else did."""
    claimed = SimulationRun.objects.filter(pk=run_id, status=SimulationRun.Status.QUEUED).update(
        status=SimulationRun.Status.RUNNING
    )
    if claimed != 1:
        return None
    run = SimulationRun.objects.get(pk=run_id)
    return simulation_run(run=run)


# A run has no heartbeat; none of ours takes this long, so one still "running" after it
# lost its worker (killed, redeployed) and would poll on the page for ever.
ABANDONED_AFTER = timedelta(hours=2)


def fail_abandoned_runs(*, now=None) -> list[int]:
    """Mark runs left "running" (or never picked up) past ABANDONED_AFTER as failed, so
    their page stops waiting and says why; returns their ids (the periodic sweep)."""
    cutoff = (now or timezone.now()) - ABANDONED_AFTER
    stale = SimulationRun.objects.filter(
        status__in=[SimulationRun.Status.QUEUED, SimulationRun.Status.RUNNING],
        created_at__lt=cutoff,
    )
    ids = list(stale.values_list("pk", flat=True))
    stale.filter(pk__in=ids).update(
        status=SimulationRun.Status.FAILED,
        error="The run stopped without finishing (its worker was stopped). Start it again.",
        finished_at=now or timezone.now(),
    )
    return ids


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def _money(value) -> str:
    return "unknown price" if value is None else f"${value:,.2f}"


def format_figures(figures: dict) -> str:
    """The run's figures as the plain-text table ``manage.py simulate`` prints."""
    lines = [
        f"Simulated participants: {figures['participants']} "
        f"({figures['completed']} reached done, {figures['test_participants']} marked as test), "
        f"concurrency {figures['concurrency']}, {figures['wall_seconds']:.1f} s in all",
        "",
        f"{'step':<12}{'n':>4}{'median s':>11}{'p95 s':>9}",
    ]
    for step, row in figures["steps"].items():
        lines.append(f"{step:<12}{row['n']:>4}{row['median_s']:>11.2f}{row['p95_s']:>9.2f}")
    lines += [
        "",
        f"{'LLM stage':<12}{'calls':>7}{'in tok':>10}{'out tok':>10}"
        f"{'calls/p':>9}{'in/p':>9}{'out/p':>9}{'cost':>11}",
    ]
    for stage, row in figures["stages"].items():
        per = row["per_participant"]
        lines.append(
            f"{stage:<12}{row['calls']:>7}{row['input_tokens']:>10}{row['output_tokens']:>10}"
            f"{per['calls']:>9.2f}{per['input_tokens']:>9.0f}{per['output_tokens']:>9.0f}"
            f"{'$' + format(row['cost'], '.4f'):>11}"
        )
    estimate = figures["estimate"]
    lines += [
        "",
        f"Cost estimate for {estimate['planned_participants']} participants"
        + (f" priced as {estimate['price_model']}" if estimate["price_model"] else "")
        + ":",
    ]
    for stage, row in estimate["stages"].items():
        lines.append(f"  {stage:<12}{row['model']:<32}{_money(row['usd']):>16}")
    lines.append(f"  {'total':<44}{_money(estimate['total_usd']):>16}")
    lines.append(f"  ({estimate['note']})")
    if figures.get("errors"):
        lines += ["", "Problems:", *(f"  {e}" for e in figures["errors"])]
    return "\n".join(lines)


def figures_json(figures: dict) -> str:
    return json.dumps(figures, indent=2, sort_keys=True)
