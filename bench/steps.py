"""Benchmark the CPU of each page of the participant's journey, in process.

    python bench/steps.py [--participants 40] [--database-url postgres://...]

The load bench (bench/load.py) shows what hundreds of people at once wait, but its
figures move by up to four times from one run to the next on a shared machine: a change
must halve the pages' CPU to show there. This walks participants one after the other
through every step of a study like the load bench's (the demo's questions, values and
stories), through Django's test client in this process, and times each request's CPU
(this thread's, so PostgreSQL's own time and other processes are left out): steady to a
few per cent, so two commits can be told apart by a millisecond. Production settings
(DEBUG off), the offline model with no delay. The first fifth of the participants warm
up and are not counted.

For each request, the median CPU milliseconds; then the pages of the minute when
everybody submits their card, selects and judges (one card, one selection, the
judgments, one survey) and of the whole journey. The last line is one JSON object. The
study is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _database import remove_study, setup_django  # noqa: E402
from _machine import machine_speed_ms  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mge_bench_steps"
# A message sent from the page: its two bubbles come back as a partial.
TRANSCRIPT = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "transcript"}
# The pages of the minute when everybody submits, selects and judges.
BURST = ("POST card", "POST selection", "POST judgments", "POST survey")


def walk(client, study, index: int, timed) -> int:
    """One participant from the link to the done page; returns how many judgments."""
    from load import MESSAGES

    from elicitation.models import Impression, JudgmentAssignment
    from tests.helpers import BOOSTED, card_data, participant_of, stream, url

    pid = f"steps-{index}-{secrets.token_hex(3)}"
    timed("GET entry", client.get, url(study) + f"?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID=x")
    timed("GET consent", client.get, url(study, "consent"))
    timed("POST consent", client.post, url(study, "consent"), {"action": "agree"}, **BOOSTED)
    if participant_of(client, study).step == "about":
        timed("POST about", client.post, url(study, "about"), {"action": "skip"}, **BOOSTED)
    timed("POST question", client.post, url(study, "question"), **BOOSTED)
    for text in MESSAGES[:3]:
        data = {"content": text, "client_token": secrets.token_hex(4)}
        sent = timed("POST interview", client.post, url(study, "interview"), data, **TRANSCRIPT)
        reply = re.findall(r'data-stream-url="([^"]+)"', sent.content.decode())[-1]
        stream(client, reply.replace("&amp;", "&"))  # the reply (uvicorn's work), not timed
    client.post(url(study, "interview", "card"), **BOOSTED)  # the draft waits on the model
    timed("POST card", client.post, url(study, "card"), card_data("submit"), **BOOSTED)
    participant = participant_of(client, study)
    shown = list(
        Impression.objects.filter(participant=participant).values_list("value_id", flat=True)
    )
    timed("POST selection", client.post, url(study, "selection"), {"values": shown[:2]}, **BOOSTED)
    judged = 0
    for assignment in JudgmentAssignment.objects.filter(participant=participant):
        data = {
            "hypothesis": assignment.hypothesis_id,
            "verdict": "upgrade",
            "reason": "It keeps what mattered.",
        }
        timed("POST judgments", client.post, url(study, "judgments"), data, **BOOSTED)
        judged += 1
    timed("POST survey", client.post, url(study, "survey"), {}, **BOOSTED)
    if participant_of(client, study).step != "done":
        raise SystemExit(f"participant {index} did not finish")
    return judged


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=40)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args(argv)
    speed = machine_speed_ms()
    # Production's settings as far as a page's CPU goes (no query log, no debug
    # templates); the test client's host.
    os.environ.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_COOKIES": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "OFFLINE_STREAM_DELAY_MS": "0",
        }
    )
    setup_django(args.database_url, name="steps")
    from django.core.management import call_command
    from django.test import Client
    from load import create_study

    from elicitation.models import Study

    call_command("collectstatic", verbosity=0, interactive=False)
    _, study_id = create_study(f"steps-{secrets.token_hex(3)}")
    study = Study.objects.get(pk=study_id)
    times: dict[str, list[float]] = {}

    def timed(label, send, *args, **kwargs):
        started = time.thread_time()
        response = send(*args, **kwargs)
        times.setdefault(label, []).append((time.thread_time() - started) * 1000)
        if response.status_code not in (200, 302):
            raise SystemExit(f"{label}: HTTP {response.status_code}")
        return response

    judgments = []
    try:
        for index in range(args.participants):
            judgments.append(walk(Client(), study, index, timed))
    finally:
        remove_study(study)
    warm = max(1, args.participants // 5)
    per_request = {}
    print(f"{'request':<18}{'count':>7}{'CPU ms (median)':>18}")
    for label, values in times.items():
        counted = values[len(values) * warm // args.participants :] or values
        per_request[label] = round(statistics.median(counted), 2)
        print(f"{label:<18}{len(counted):>7}{per_request[label]:>18}")
    judged = statistics.median(judgments)
    per_journey = {label: 3.0 if label == "POST interview" else 1.0 for label in per_request}
    per_journey["POST judgments"] = judged
    burst = sum(per_request[label] * per_journey[label] for label in BURST if label in per_request)
    journey = sum(per_request[label] * per_journey[label] for label in per_request)
    print(
        f"card, selection, {judged:g} judgments, survey: {burst:.1f} ms; journey: {journey:.1f} ms"
    )
    figures = {
        "benchmark": "steps",
        "participants": args.participants,
        "machine_speed_ms": speed,
        "cpu_ms": per_request,
        "burst_cpu_ms": round(burst, 1),
        "journey_cpu_ms": round(journey, 1),
    }
    print(json.dumps(figures, separators=(",", ":")))
    return figures


if __name__ == "__main__":
    main()
