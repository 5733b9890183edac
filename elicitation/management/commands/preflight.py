"""``manage.py preflight [--no-call] [--study SLUG]``: is this installation ready to run a
study? Checks each LLM stage's model (keys, litellm's cost map, a 1-token call), the
broker, the database and the worker, prints what is missing, and exits non-zero when
something is."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max
from django.utils import timezone

from elicitation.llm import STAGES, model_for
from elicitation.llm.checks import ModelCheck, check_model
from elicitation.models import Study, WorkerHeartbeat
from moralgraph.research.review import WORKER_STALE_AFTER

BROKER_TIMEOUT = 5  # seconds


class Command(BaseCommand):
    help = "Check the LLM models, the broker, the database and the worker before a study."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-call", action="store_true", help="Skip the 1-token call to each model."
        )
        parser.add_argument("--study", help="Check this study's own per-stage models too.")

    def handle(self, *args, no_call=False, study=None, **options):
        self.problems = 0
        self._database()  # first: the study and the worker's heartbeat are read from it
        target = self._study(study) if study and self.database_ok else None
        self._models(target, call=not no_call)
        self._broker()
        self._worker()
        if self.problems:
            raise CommandError(
                f"{self.problems} problem{'s' if self.problems != 1 else ''}: see above.",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS("Ready: nothing missing."))

    # --- output ---------------------------------------------------------------------

    def _line(self, ok: bool, what: str, detail: str) -> None:
        mark = self.style.SUCCESS("ok     ") if ok else self.style.ERROR("MISSING")
        self.stdout.write(f"  {mark} {what:<12} {detail}")
        if not ok:
            self.problems += 1

    def _section(self, title: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(title))

    # --- checks ---------------------------------------------------------------------

    def _study(self, slug: str) -> Study | None:
        found = Study.objects.filter(slug=slug).first()
        if found is None:
            self._line(False, "study", f"no study {slug!r}")
        return found

    def _models(self, study: Study | None, *, call: bool) -> None:
        self._section("LLM models" + (f" for {study.slug}" if study else ""))
        checked: dict[str, ModelCheck] = {}  # stages sharing a model are called once
        for stage in STAGES:
            model = model_for(stage.name, study)
            embedding = stage.name == "embed"
            key = f"{'embed:' if embedding else ''}{model}"
            if key not in checked:
                checked[key] = check_model(model, call=call, embedding=embedding)
            result = checked[key]
            said = "; ".join(result.problems or result.notes)
            self._line(result.ok, stage.name, f"{result.model}: {said}")

    def _broker(self) -> None:
        from config.celery import app

        self._section("Broker")
        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
                self._line(True, "broker", conn.as_uri())
        except Exception as exc:
            self._line(False, "broker", f"cannot connect: {type(exc).__name__}: {exc}")

    def _database(self) -> None:
        self._section("Database")
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except Exception as exc:
            self._line(False, "database", f"cannot query: {type(exc).__name__}: {exc}")
            self.database_ok = False
            return
        self.database_ok = True
        vendor = connection.vendor
        if pending:
            self._line(
                False,
                "database",
                f"{vendor}: {len(pending)} migration(s) not applied: run manage.py migrate",
            )
        else:
            self._line(True, "database", f"{vendor}: a query answered, migrations applied")

    def _worker(self) -> None:
        self._section("Worker")
        if not self.database_ok:
            self._line(False, "worker", "unknown: its heartbeat is read from the database")
            return
        seen = WorkerHeartbeat.objects.aggregate(last=Max("seen_at"))["last"]
        minutes = int(WORKER_STALE_AFTER / timedelta(minutes=1))
        if seen is None:
            self._line(False, "worker", "never seen: start one (celery -A config worker --beat)")
        elif timezone.now() - seen > WORKER_STALE_AFTER:
            self._line(
                False,
                "worker",
                f"last seen {seen:%Y-%m-%d %H:%M} UTC, over {minutes} minutes ago: "
                "is it running, with --beat (its heartbeat runs every minute)?",
            )
        else:
            self._line(True, "worker", f"heartbeat {seen:%H:%M:%S} UTC")
