"""Benchmark the web tier's CPU for one streamed reply: the offline provider against a
real provider's code path.

    python bench/stream_cost.py [--replies 200] [--rounds 2]

The load bench (bench/load.py) streams its replies from the offline provider. A real
model's reply takes a longer path through litellm: HTTP, server-sent events, the
provider SDK's objects for each chunk, and the cost worked out at the end. This measures
both in one process, on the same reply: the offline interviewer's answer, and the same
words from litellm's ``openai/`` provider reading a loopback OpenAI-compatible server
(``tests/elicitation/llm/loopback.py``) run in a process of its own, so that only the
client's CPU is counted, as the web tier would pay it. Rounds alternate the two.

The last line is one JSON object: CPU milliseconds per reply and microseconds per chunk
for each, and how many times the offline figure a real provider's is. No network, no
database, no keys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import machine_speed_ms  # noqa: E402  (bench/, the script's own folder)

MESSAGES = [
    {"role": "system", "content": "You are a careful interviewer."},
    {
        "role": "user",
        "content": "I think the AI should listen first, then ask what the person needs most.",
    },
]
LOOPBACK_MODEL = "openai/loopback-model"
# The loopback server, in a process of its own: it answers every request with the text
# it reads on stdin, streamed a word per chunk, prints its address, and ends when the
# bench does (however the bench ended).
SERVE = """
import os, sys, time
sys.path.insert(0, {root!r})
from tests.elicitation.llm import loopback
parent = os.getppid()
text = sys.stdin.read()
server = loopback.Loopback()
server.push(*[loopback.text(text) for _ in range({count})])
server.start()
print(server.url, flush=True)
while os.getppid() == parent:
    time.sleep(0.5)
"""


def setup() -> None:
    # Before django.setup(): the provider reads its pace from the settings.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ["OFFLINE_STREAM_DELAY_MS"] = "0"  # CPU, not waiting, is measured
    import django

    django.setup()
    from elicitation.llm.offline import provider

    provider.register()


async def stream_once(model: str, **options) -> tuple[str, int]:
    """One reply streamed to its end, as the gateway asks for it: its text and chunks."""
    import litellm

    stream = await litellm.acompletion(
        model=model,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        **options,
    )
    parts, chunks = [], 0
    async for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts), chunks


async def measure(model: str, replies: int, **options) -> dict:
    await stream_once(model, **options)  # the first call of a provider sets things up
    began, chunks = time.process_time(), 0
    for _ in range(replies):
        chunks += (await stream_once(model, **options))[1]
    await asyncio.sleep(0.2)  # litellm logs each reply in a task of its own
    cpu = time.process_time() - began
    return {"cpu_ms_per_reply": cpu / replies * 1000, "us_per_chunk": cpu / chunks * 1e6}


def start_loopback(text: str, count: int) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE.format(root=str(ROOT), count=count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    server.stdin.write(text)
    server.stdin.close()
    url = server.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        server.kill()
        raise SystemExit(f"the loopback server did not start (said {url!r})")
    return server, url


async def run(args: argparse.Namespace) -> dict:
    text, _ = await stream_once("offline/interview")
    words = len(text.split(" "))
    print(f"The reply: {words} words, streamed a word per chunk by both", flush=True)
    server, url = start_loopback(text, count=(args.replies + 1) * args.rounds + 1)
    # A made-up key: the loopback server checks none, but the provider wants one.
    os.environ["OPENAI_API_KEY"] = "loopback-not-a-secret"
    try:
        rounds: dict[str, list[dict]] = {"offline": [], "openai_loopback": []}
        for n in range(args.rounds):
            for name, model, options in (
                ("offline", "offline/interview", {}),
                ("openai_loopback", LOOPBACK_MODEL, {"api_base": url}),
            ):
                figures = await measure(model, args.replies, **options)
                rounds[name].append(figures)
                print(
                    f"round {n + 1}, {name}: {figures['cpu_ms_per_reply']:.1f} ms of CPU a "
                    f"reply, {figures['us_per_chunk']:.0f} us a chunk",
                    flush=True,
                )
    finally:
        server.kill()
        server.wait()
    best = {name: min(r["cpu_ms_per_reply"] for r in rs) for name, rs in rounds.items()}
    per_chunk = {name: min(r["us_per_chunk"] for r in rs) for name, rs in rounds.items()}
    return {
        "benchmark": "stream_cost",
        "replies": args.replies,
        "rounds": args.rounds,
        "words": words,
        "cpu_ms_per_reply": {name: round(v, 1) for name, v in best.items()},
        "us_per_chunk": {name: round(v) for name, v in per_chunk.items()},
        "real_over_offline": round(best["openai_loopback"] / best["offline"], 2),
    }


def positive(text: str) -> int:
    """A count of at least one (each figure is a time divided by it)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return number


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=positive, default=200, help="per round and provider")
    parser.add_argument("--rounds", type=positive, default=2)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    speed = machine_speed_ms()
    print(f"Machine speed: {speed} ms for the reference work (lower is faster)", flush=True)
    setup()
    result = asyncio.run(run(args))
    result["machine_speed_ms"] = speed
    print(json.dumps(result))


if __name__ == "__main__":
    main()
