"""Faults survived, measured: a database restart, the broker down, a worker killed.

    .venv/bin/python bench/faults.py [--journeys 8] [--concurrency 4] [--workers 2]
        [--scenarios postgres-restart,redis-down,worker-kill] [--without-pool-check]
        [--layout split|single]

Everything runs on this machine, on loopback ports of its own, and is stopped at the end:
a PostgreSQL cluster made for the run (initdb in a temporary folder, run as the
``postgres`` user with runuser because PostgreSQL refuses root), a redis-server without
persistence, a Celery worker (one process, acks late) and the web tier as bench/load.py
starts it: production's (nginx, gunicorn with ``--workers`` processes for the pages,
uvicorn for the streams) or with ``--layout single`` the demo's one uvicorn. The
machine's own PostgreSQL and Redis are never touched. The database is migrated and
given a study with the demo's questions, values and stories (bench/load.py's), and the
simulated participants of bench/load.py walk the whole journey over HTTP.

Scenarios, each with ``--journeys`` participants, ``--concurrency`` at a time:

- ``postgres-restart``: PostgreSQL restarts (``pg_ctl restart -m fast``) while the
  journeys run. The pool checks each connection it hands out, so requests after the
  restart are served; a request in flight at its moment runs again on a fresh
  connection (``elicitation.http.ReconnectMiddleware``), a POST only if nothing of it
  was kept (PostgreSQL is asked what became of a COMMIT cut half way); a POST whose
  work was kept sends the browser to the page as it now is.
  ``--without-pool-check`` runs it a second time with DATABASE_POOL_CHECK=false, to show
  what the check prevents.
- ``redis-down``: Redis is stopped, every journey submits its card and judgments, then
  Redis comes back; the sweep (run here every 2 s, as beat would) queues what the
  participants' requests could not, and the worker processes it.
- ``worker-kill``: the worker's whole process group gets SIGKILL while it reconciles the
  journeys' cards; a new worker starts, the sweep queues the study again, and the killed
  task's message comes back after the visibility timeout (60 s here): processing it
  again must change nothing.

One JSON line per scenario: ``scenario``, ``requests_5xx`` (server answers >= 500 to the
participants, streams included), ``lost`` (what a participant was told was saved but is
not in the database, submitted cards never reconciled, and participants without the
recruiter id every journey came with), ``duplicated`` (a participant,
message, judgment or story there twice, a card placed twice), ``recovered_seconds`` (from the
restart to the first request served after it; Redis and worker: from Redis back or the
kill to all work processed), then details. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import load  # noqa: E402
from _live import HOST, ROOT, LiveServer, SplitServer, free_port  # noqa: E402

SCENARIOS = ("postgres-restart", "redis-down", "worker-kill")
SETTLE_SECONDS = 150.0  # the longest wait for queued work to be done
VISIBILITY_TIMEOUT = 60  # the settings' minimum; a killed task's message returns after it
SWEEP_EVERY = 2.0


def say(message: str = "") -> None:
    print(message, file=sys.stderr, flush=True)


def run_command(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done


# ---------------------------------------------------------------------------------------
# The services this run starts and stops itself
# ---------------------------------------------------------------------------------------


class Postgres:
    """A throwaway cluster: initdb and pg_ctl as the ``postgres`` user, data and socket
    in ``folder``, listening on 127.0.0.1 only, durability off (nothing here is kept)."""

    def __init__(self, folder: Path):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise SystemExit("PostgreSQL's server binaries are not installed (initdb)")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.data, self.run_dir = folder / "pg-data", folder / "pg-run"
        user = pwd.getpwnam("postgres")
        for path in (self.data, self.run_dir):
            path.mkdir()
            os.chown(path, user.pw_uid, user.pw_gid)
        self.log = self.run_dir / "postgres.log"
        self.url = f"postgres://postgres@{HOST}:{self.port}/mge_faults"
        self._as_postgres("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                          "-E", "UTF8", "--no-sync", "--locale=C")  # fmt: skip
        self.options = (
            f"-p {self.port} -k {self.run_dir} -c listen_addresses={HOST} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        self._pg_ctl("start")

    def _as_postgres(self, tool: str, *args: str) -> None:
        run_command(["runuser", "-u", "postgres", "--", str(self.bin / tool), *args])

    def _pg_ctl(self, action: str, *args: str) -> None:
        # The log file every time: without it the server would write to pg_ctl's output,
        # holding our pipe open.
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o",
                          self.options, "-w", "-t", "60", *args, action)  # fmt: skip

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        try:
            self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            say(f"  could not stop PostgreSQL cleanly: {error}")


class Redis:
    """redis-server on its own port, no persistence: stop() and start() again is Redis
    down and back, with an empty broker."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://{HOST}:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while run_command_ok(["redis-cli", "-p", str(self.port), "ping"]) != "PONG":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def run_command_ok(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    return done.stdout.strip()


class Worker:
    """A Celery worker (one process for tasks) in its own process group."""

    def __init__(self, env: dict, log_path: Path):
        self.env, self.log_path, self.proc = env, log_path, None
        self.started = 0

    def start(self) -> None:
        self.started += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "1",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", f"faults{self.started}@%h"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 90
        while self.log_path.read_text(errors="replace").count(" ready.") < self.started:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def since_start(self) -> str:
        return self.log_path.read_text(errors="replace").split(" ready.")[-1]

    def in_flight(self) -> list[str]:
        """Ids of the tasks received and not finished, from the log since it started."""
        text = self.since_start()
        received = re.findall(r"Task [\w.]+\[([0-9a-f-]+)\] received", text)
        finished = set(re.findall(r"Task [\w.]+\[([0-9a-f-]+)\] (?:succeeded|raised|retry)", text))
        return [task for task in received if task not in finished]

    def kill(self) -> None:
        """SIGKILL the whole group, as a machine losing the worker would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


# ---------------------------------------------------------------------------------------
# Journeys over HTTP, with every request's time and status kept
# ---------------------------------------------------------------------------------------

EVENTS: list[tuple[float, float, int]] = []  # (started, ended, status), monotonic seconds


def _record_requests() -> None:
    """Wrap bench/load.py's browser so that each request's start, end and status are
    kept (the recovery time needs to know when requests were served)."""
    send, stream = load.Browser._send, load.Browser.stream

    async def timed_send(self, method, path, **kwargs):
        started = time.monotonic()
        response = await send(self, method, path, **kwargs)
        EVENTS.append((started, time.monotonic(), response.status_code))
        return response

    async def timed_stream(self, url):
        started = time.monotonic()
        before = self.run.stats.statuses.copy()
        try:
            await stream(self, url)
        finally:
            new = self.run.stats.statuses - before
            for status in new.elements():
                EVENTS.append((started, time.monotonic(), status))

    load.Browser._send, load.Browser.stream = timed_send, timed_stream


def _load_args(args) -> argparse.Namespace:
    # The load bench's own defaults (so that an option it gains is never missing here),
    # then this bench's: no thinking, drafts at once, a patient client.
    loaded = load.parse_args([])
    loaded.__dict__.update(
        concurrency=args.concurrency, timeout=60.0, stream_timeout=90.0, max_seconds=240.0,
        stream_delay_ms=0, workers=args.workers, llm_latency_seconds=0.0, layout=args.layout,
    )  # fmt: skip
    return loaded


async def walk_all(run: load.Run, journeys: list[load.Journey], during=None) -> None:
    """Every journey, ``concurrency`` at a time, while ``during()`` (a coroutine) runs."""
    pending = iter(journeys)

    async def one_at_a_time():
        for journey in pending:
            journey.status = "running"
            began = time.perf_counter()
            try:
                await load.walk(run, journey)
                journey.status = "completed"
            except load.JourneyFailed as failed:
                journey.status, journey.reason = "failed", str(failed)
            except Exception as error:  # a page the client could not read
                journey.status, journey.reason = "failed", f"{type(error).__name__}: {error}"
            finally:
                journey.seconds = time.perf_counter() - began

    tasks = [asyncio.create_task(one_at_a_time()) for _ in range(run.args.concurrency)]
    if during is not None:
        tasks.append(asyncio.create_task(during()))
    await asyncio.gather(*tasks)


# ---------------------------------------------------------------------------------------
# What the database holds
# ---------------------------------------------------------------------------------------


def database_figures(study_id: int, journeys: list[load.Journey]) -> dict:
    """Lost and duplicated rows, against what the journeys were told was saved."""
    from django.db.models import Count

    from elicitation.models import Message, Participant, ValuesCard, WiserJudgment
    from moralgraph.models import CardMapping, UpgradeHypothesis

    def twice(queryset, *fields) -> int:
        rows = queryset.values(*fields).annotate(n=Count("id")).filter(n__gt=1)
        return sum(row["n"] - 1 for row in rows)

    participants = Participant.objects.filter(study_id=study_id)
    by_pid = {p.recruiter_pid: p for p in participants}
    messages = Message.objects.filter(interview__participant__study_id=study_id, role="user")
    sent = dict(
        messages.values("interview__participant__recruiter_pid")
        .annotate(n=Count("id"))
        .values_list("interview__participant__recruiter_pid", "n")
    )
    judged = dict(
        WiserJudgment.objects.filter(participant__study_id=study_id)
        .values("participant__recruiter_pid")
        .annotate(n=Count("id"))
        .values_list("participant__recruiter_pid", "n")
    )
    cards = ValuesCard.objects.filter(study_id=study_id, status=ValuesCard.Status.SUBMITTED)
    carded = set(cards.values_list("participant__recruiter_pid", flat=True))
    lost = {
        "participants": sum(1 for j in journeys if j.consented and j.pid not in by_pid),
        # Every journey comes with a recruiter id: a participant without one is someone's
        # work recorded under nobody's id (their browser lost them and started anew).
        "recruiter_ids": participants.filter(recruiter_pid="").count(),
        "messages": sum(max(0, j.messages_acked - sent.get(j.pid, 0)) for j in journeys),
        "cards": sum(1 for j in journeys if j.status == "completed" and j.pid not in carded),
        "judgments": sum(max(0, j.judgments - judged.get(j.pid, 0)) for j in journeys),
        "cards_not_reconciled": cards.exclude(reconcile_status=ValuesCard.Reconcile.DONE).count(),
    }
    duplicated = {
        "participants": twice(participants.exclude(recruiter_pid=""), "recruiter_pid"),
        "messages": twice(messages, "interview", "client_token"),
        "judgments": twice(
            WiserJudgment.objects.filter(participant__study_id=study_id),
            "participant",
            "hypothesis",
        ),
        # A card placed twice has two values made from it. Not "two values with the same
        # representative card": a merged cluster's root takes its medoid card's wording,
        # and that card's own (merged-in) value keeps it too, by design.
        "values_from_one_card": twice(
            CardMapping.objects.filter(card__study_id=study_id, mapped_by="new"), "card"
        ),
        "stories": twice(
            UpgradeHypothesis.objects.filter(study_id=study_id),
            "from_value",
            "to_value",
            "context",
        ),
    }
    return {"lost": lost, "duplicated": duplicated}


def settled(study_id: int) -> bool:
    """All submitted cards reconciled and the graph scored after its last change."""
    from elicitation.models import Study, ValuesCard

    study = Study.objects.get(pk=study_id)
    pending = ValuesCard.objects.filter(
        study_id=study_id, status=ValuesCard.Status.SUBMITTED
    ).exclude(reconcile_status=ValuesCard.Reconcile.DONE)
    scored = study.graph_changed_at is None or (
        study.scored_at is not None and study.scored_at >= study.graph_changed_at
    )
    return not pending.exists() and scored


def sweep_until_settled(study_id: int, since: float) -> float | None:
    """Run the sweep every few seconds, as beat would, until the study is settled;
    seconds from ``since`` to then (None if it never settled)."""
    from django.db import close_old_connections

    from moralgraph.services.sweep import sweep

    deadline = time.monotonic() + SETTLE_SECONDS
    last_sweep = 0.0
    while time.monotonic() < deadline:
        close_old_connections()
        if settled(study_id):
            return round(time.monotonic() - since, 2)
        if time.monotonic() - last_sweep >= SWEEP_EVERY:
            sweep()
            last_sweep = time.monotonic()
        time.sleep(0.25)
    return None


# ---------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, folder: Path):
        self.args, self.folder = args, folder
        self.postgres = Postgres(folder)
        self.redis = Redis(folder)
        load.ensure_postgres_database(self.postgres.url)
        self.env = load.server_env(_load_args(args), folder / "var", self.postgres.url)
        self.env.update(
            {
                "CELERY_BROKER_URL": self.redis.url,
                "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
                "RECONCILE_SWEEP_SECONDS": "5",
                "SCORE_DEBOUNCE_SECONDS": "1",
                "DATABASE_POOL": "true",
                "DATABASE_POOL_MIN": "2",
            }
        )
        say(f"PostgreSQL on {HOST}:{self.postgres.port}, Redis on {HOST}:{self.redis.port}")
        say("Migrating ...")
        load.setup_django(self.env)  # this process: one plain connection, no pool
        self.worker = Worker(self.env, folder / "worker.log")
        self.server: LiveServer | SplitServer | None = None

    def start_server(self, **overrides: str) -> LiveServer | SplitServer:
        folder = self.folder / f"tier-{time.monotonic_ns()}"
        folder.mkdir()
        self.server = load.start_server(_load_args(self.args), {**self.env, **overrides}, folder)
        return self.server

    def stop(self) -> None:
        for stop in (
            lambda: self.server and self.server.stop(),
            self.worker.stop,
            self.redis.stop,
            self.postgres.stop,
        ):
            try:
                stop()
            except Exception as error:  # keep stopping the others
                say(f"  while stopping: {type(error).__name__}: {error}")

    def journeys_on_new_study(self, name: str) -> tuple[load.Run, list[load.Journey], int]:
        from django.db import connections

        slug, study_id = load.create_study(f"{name}-{os.getpid()}")
        connections.close_all()
        run = load.Run(
            args=_load_args(self.args), base=self.server.url, port=self.server.port,
            slug=slug, stop=asyncio.Event(),
        )  # fmt: skip
        journeys = [load.Journey(i, f"{name}-{i}") for i in range(self.args.journeys)]
        return run, journeys, study_id

    def result(self, scenario: str, run, journeys, study_id, recovered, **details) -> dict:
        from django.db import close_old_connections

        close_old_connections()
        figures = database_figures(study_id, journeys)
        statuses = run.stats.statuses
        failed = [j.reason for j in journeys if j.status != "completed"]
        return {
            "scenario": scenario,
            "requests_5xx": sum(n for code, n in statuses.items() if code >= 500),
            "lost": sum(figures["lost"].values()),
            "duplicated": sum(figures["duplicated"].values()),
            "recovered_seconds": recovered,
            "requests": sum(statuses.values()),
            "journeys_completed": sum(j.status == "completed" for j in journeys),
            "journeys_failed": len(failed),
            "first_failures": failed[:3],
            "transport_errors": dict(run.stats.transport_errors),
            "lost_by_kind": figures["lost"],
            "duplicated_by_kind": figures["duplicated"],
            **details,
        }

    # --- (a) PostgreSQL restarts mid-stream ---------------------------------------------

    def postgres_restart(self, *, pool_check: bool = True) -> dict:
        name = "postgres-restart" + ("" if pool_check else "-without-pool-check")
        say(f"[{name}] {self.args.journeys} journeys; PostgreSQL restarts while they run")
        server = self.start_server(DATABASE_POOL_CHECK="true" if pool_check else "false")
        run, journeys, study_id = self.journeys_on_new_study(name.replace("-", ""))
        restart = {}

        async def restart_midway():
            # Once the first journeys are past their first steps, restart the database.
            while len(EVENTS) < self.args.concurrency * 6:
                await asyncio.sleep(0.05)
            restart["began"] = time.monotonic()
            await asyncio.to_thread(self.postgres.restart)
            restart["ended"] = time.monotonic()
            say(f"  restarted in {restart['ended'] - restart['began']:.1f}s")

        EVENTS.clear()
        asyncio.run(walk_all(run, journeys, during=restart_midway))
        served = [end for start, end, status in EVENTS if start >= restart["began"] and
                  status < 500]  # fmt: skip
        recovered = round(min(served) - restart["began"], 2) if served else None
        errors = load.server_errors(server.log_text())
        server.stop()
        settle = sweep_until_settled(study_id, time.monotonic())
        return self.result(
            name, run, journeys, study_id, recovered,
            restart_seconds=round(restart["ended"] - restart["began"], 2),
            settled_seconds_after=settle,
            logged_exceptions=errors["exceptions"],
        )  # fmt: skip

    # --- (b) Redis down while cards and judgments are submitted -------------------------

    def redis_down(self) -> dict:
        say(f"[redis-down] Redis stopped; {self.args.journeys} journeys submit cards and judgments")
        server = self.start_server()
        run, journeys, study_id = self.journeys_on_new_study("redisdown")
        self.redis.stop()
        asyncio.run(walk_all(run, journeys))
        self.redis.start()
        back = time.monotonic()
        say("  Redis is back; the sweep and the worker catch up")
        recovered = sweep_until_settled(study_id, back)
        errors = load.server_errors(server.log_text())
        server.stop()
        return self.result(
            "redis-down", run, journeys, study_id, recovered,
            logged_exceptions=errors["exceptions"],
        )  # fmt: skip

    # --- (c) The worker is SIGKILLed mid-reconcile --------------------------------------

    def worker_kill(self) -> dict:
        from django.db import close_old_connections

        from elicitation.models import ValuesCard

        say(f"[worker-kill] {self.args.journeys} journeys; the worker is killed mid-reconcile")
        server = self.start_server()
        run, journeys, study_id = self.journeys_on_new_study("workerkill")
        kill = {}

        def cards_waiting() -> int:
            close_old_connections()
            return ValuesCard.objects.filter(
                study_id=study_id,
                status=ValuesCard.Status.SUBMITTED,
                reconcile_status=ValuesCard.Reconcile.PENDING,
            ).count()

        async def kill_midway():
            # As soon as the worker is busy with a card and others wait: SIGKILL.
            deadline = time.monotonic() + 200
            while time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                waiting = await asyncio.to_thread(cards_waiting)
                running = self.worker.in_flight()
                if waiting >= 2 and running:
                    self.worker.kill()
                    kill.update(in_flight=running, cards_waiting=waiting, at=time.monotonic())
                    say(f"  killed with {waiting} cards waiting, {len(running)} task running")
                    return

        asyncio.run(walk_all(run, journeys, during=kill_midway))
        if "at" not in kill:
            # Every card was reconciled before a moment to kill came: kill anyway.
            kill.update(in_flight=self.worker.in_flight(), cards_waiting=0)
            self.worker.kill()
            kill["at"] = time.monotonic()
        self.worker.start()
        recovered = sweep_until_settled(study_id, kill["at"])
        # The killed task's message comes back once its visibility timeout is over:
        # processing it again must change nothing.
        wait = max(0.0, kill["at"] + VISIBILITY_TIMEOUT + 15 - time.monotonic())
        say(f"  settled; waiting {wait:.0f}s for the killed task's message to come back")
        time.sleep(wait)
        sweep_until_settled(study_id, time.monotonic())
        after = self.worker.since_start()
        errors = load.server_errors(server.log_text())
        server.stop()
        return self.result(
            "worker-kill", run, journeys, study_id, recovered,
            tasks_in_flight_at_kill=len(kill["in_flight"]),
            cards_waiting_at_kill=kill["cards_waiting"],
            # The killed task, delivered again to the new worker (acks late).
            redelivered=all(task in after for task in kill["in_flight"]),
            tasks_received_after_restart=after.count("] received"),
            logged_exceptions=errors["exceptions"],
        )  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=8, help="participants per scenario")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--layout",
        choices=["split", "single"],
        default="split",
        help="split: production's nginx, gunicorn and uvicorn; single: the demo's uvicorn",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="the pages' server processes (single: uvicorn's)"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--without-pool-check",
        action="store_true",
        help="also run postgres-restart with the pool's connection check off",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    if args.journeys < 1 or args.concurrency < 1 or args.workers < 1:
        parser.error("--journeys, --concurrency and --workers must be at least 1")
    return args


def _terminated(signum, frame):
    raise KeyboardInterrupt  # so that everything started is stopped on the way out


def main(argv=None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("runuser"):
        raise SystemExit("run as root: PostgreSQL is started as the postgres user (runuser)")
    folder = Path(tempfile.mkdtemp(prefix="mge-faults-"))
    folder.chmod(0o755)  # the postgres user works in a folder inside
    signal.signal(signal.SIGTERM, _terminated)
    _record_requests()
    bench = None
    ok = True
    started = time.monotonic()
    try:
        bench = Bench(args, folder)
        bench.worker.start()
        plan = [(s, {}) for s in args.scenarios]
        if args.without_pool_check and "postgres-restart" in args.scenarios:
            plan.append(("postgres-restart", {"pool_check": False}))
        for scenario, options in plan:
            result = getattr(bench, scenario.replace("-", "_"))(**options)
            print(json.dumps(result, separators=(",", ":")), flush=True)
            if options.get("pool_check", True):
                ok = ok and not result["requests_5xx"] and not result["lost"]
                ok = ok and not result["duplicated"] and result["recovered_seconds"] is not None
        say(f"done in {time.monotonic() - started:.0f}s")
        return 0 if ok else 1
    except KeyboardInterrupt:
        say("aborted")
        return 130
    finally:
        if bench is not None:
            bench.stop()
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
