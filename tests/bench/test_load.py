"""bench/load.py's flags and figures (the bench itself runs by hand: `make load`)."""

import importlib.util
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def load():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_think_seconds_parse_as_a_range(load):
    args = load.parse_args(["--think-seconds", "3-10"])
    assert args.think_seconds == (3.0, 10.0)
    assert args.max_seconds == 900  # people who think need longer
    assert load.parse_args(["--think-seconds", "2"]).think_seconds == (2.0, 2.0)


def test_production_s_layout_by_default_and_the_demo_s_on_request(load):
    args = load.parse_args([])
    assert (args.layout, args.workers, args.threads) == ("split", 2, 8)
    assert (args.stream_workers, args.stream_nice) == (1, 10)
    assert load.parse_args(["--layout", "single"]).layout == "single"


def test_no_think_time_by_default(load):
    args = load.parse_args([])
    assert args.think_seconds == (0.0, 0.0)
    assert args.max_seconds == 300
    assert args.llm_latency_seconds == 5.0


@pytest.mark.parametrize("bad", ["10-3", "a-b", "-1", "3-1000"])
def test_a_bad_range_is_refused(load, bad):
    with pytest.raises(SystemExit):
        load.parse_args(["--think-seconds", bad])


def test_the_server_gets_the_model_latency(load, tmp_path):
    args = load.parse_args(["--llm-latency-seconds", "2.5"])
    env = load.server_env(args, tmp_path, "sqlite:///x")
    assert env["LLM_OFFLINE_LATENCY_SECONDS"] == "articulate:2.5,revise:2.5"


def test_p95_non_llm_leaves_out_the_streams_and_the_draft(load):
    args = load.parse_args(["--participants", "1"])
    run = load.Run(args=args, base="http://127.0.0.1:1", port=1, slug="s", stop=None)
    run.stats.latencies["GET consent"] = [10.0] * 99 + [20.0]
    run.stats.latencies["POST interview/card"] = [5000.0] * 10
    run.stats.stream_ms = [9000.0] * 10
    journey = load.Journey(0, "load-0", status="completed", seconds=60.0)
    figures = load.report(run, [journey], 60.0, {})
    assert figures["p95_non_llm_ms"] == 10.0
    assert figures["p95_all_but_streams_ms"] == 5000.0
    assert figures["think_seconds"] == [0.0, 0.0]


def test_the_timeline_says_when_the_slow_requests_were(load):
    stats = load.Stats()
    # Quick pages in the first 15 s; slow ones in the next 15, beside a slow card draft
    # (left out, as from p95_non_llm_ms).
    stats.ended = [(t, "GET consent", 10.0) for t in range(15)]
    stats.ended += [(15 + t, "POST interview", 2000.0) for t in range(15)]
    stats.ended += [(20.0, "POST interview/card", 9000.0)]
    # Server and machine CPU seconds so far, sampled each second (2 CPUs here).
    stats.cpu_samples = [(float(t), 0.5 * t, 1.5 * t) for t in range(46)]
    stats.lags = [(1.0, 3.0), (20.0, 400.0)]
    windows = load.timeline(stats, 45.0)
    assert [w["from_s"] for w in windows] == [0, 15, 30]
    assert [w["requests"] for w in windows] == [15, 15, 0]
    assert [w["p95_non_llm_ms"] for w in windows] == [10.0, 2000.0, None]
    cpus = load.os.cpu_count() or 1
    assert windows[0]["server_cpu_share"] == round(0.5 / cpus, 2)
    assert windows[0]["machine_cpu_share"] == round(1.5 / cpus, 2)
    assert [w["client_lag_ms_p95"] for w in windows] == [3.0, 400.0, None]


def test_think_pauses_within_the_range(load):
    import asyncio

    args = load.parse_args(["--think-seconds", "0.05-0.1"])

    async def go():
        run = load.Run(args=args, base="", port=0, slug="s", stop=asyncio.Event())
        loop = asyncio.get_running_loop()
        began = loop.time()
        await load.think(run, random.Random(1))
        return loop.time() - began

    assert 0.05 <= asyncio.run(go()) < 0.5


def _browser(load, handler):
    import asyncio

    import httpx

    args = load.parse_args(["--participants", "1"])
    run = load.Run(args=args, base="http://127.0.0.1:1", port=1, slug="s", stop=asyncio.Event())
    browser = load.Browser(run)
    browser.client = httpx.AsyncClient(
        base_url=run.base, transport=httpx.MockTransport(handler), follow_redirects=False
    )
    return run, browser


def test_a_step_is_timed_with_its_redirect_as_one_wait(load):
    import asyncio

    import httpx

    def handler(request):
        if request.method == "POST":
            return httpx.Response(302, headers={"Location": "/s/s/question/"})
        return httpx.Response(200, html='<section id="step"></section>')

    run, browser = _browser(load, handler)
    page = asyncio.run(browser.open("POST", "/s/s/about/", data={"action": "skip"}))
    assert page.step == "question"
    assert sorted(run.stats.latencies) == ["GET question", "POST about"]  # two requests
    assert [len(v) for v in run.stats.steps.values()] == [1]  # one wait, the two together
    (wait,) = run.stats.steps["POST about"]
    assert wait >= max(run.stats.latencies["POST about"])


def test_a_step_shown_at_once_is_read_from_its_pushed_address(load):
    import asyncio

    import httpx

    def handler(request):
        return httpx.Response(
            200, html='<section id="step"></section>', headers={"HX-Push-Url": "/s/s/question/"}
        )

    run, browser = _browser(load, handler)
    headers = browser.htmx_headers(boosted=True, target="step")
    page = asyncio.run(browser.open("POST", "/s/s/about/", data={}, htmx=headers))
    assert page.step == "question"
    assert browser.current == "/s/s/question/"
    assert list(run.stats.latencies) == ["POST about"]
    journey = load.Journey(0, "load-0", status="completed", seconds=60.0)
    assert load.report(run, [journey], 60.0, {})["p95_step_ms"] is not None


@pytest.mark.postgres
def test_a_short_run_checks_the_database_and_leaves_no_study_behind():
    """The whole bench, three journeys through nginx, gunicorn and uvicorn: every check
    passes, and the study it made is gone afterwards, so that runs on one database do not
    grow its tables for the next."""
    from tests.bench import support

    url = support.database_url("mge_load_bench")
    try:
        figures = support.run(
            "load.py",
            *("--participants", "3", "--concurrency", "3", "--llm-latency-seconds", "0"),
            *("--database-url", url),
        )
        assert (figures["completed"], figures["failed"], figures["http_5xx"]) == (3, 0, 0)
        assert all(figures["consistency"].values())
        assert support.studies_and_participants_left(url) == (0, 0)
    finally:
        support.drop(url)
