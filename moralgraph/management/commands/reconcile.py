"""python manage.py reconcile --study SLUG [--sync]"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from elicitation.llm import LLMError
from elicitation.llm import stages as llm_stages
from elicitation.models import Study
from elicitation.queue import enqueue
from moralgraph.locks import StudyBusy
from moralgraph.services import reconcile


class Command(BaseCommand):
    help = (
        "Reconcile a study: embed and deduplicate its cards into values, find contexts, "
        "write upgrade stories. Queued for a worker unless --sync."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG")
        parser.add_argument(
            "--sync", action="store_true", help="Run here and now, with a progress bar."
        )

    def handle(self, *, study: str, sync: bool, **options):
        found = Study.objects.filter(slug=study).first()
        if found is None:
            raise CommandError(f"no study with slug {study!r}")
        if not sync:
            if not enqueue("moralgraph.tasks.reconcile_study", found.pk):
                raise CommandError("the broker refused the task; run with --sync instead")
            self.stdout.write(
                f"Queued the reconciliation of {found.slug} for a Celery worker "
                "(moralgraph.tasks.reconcile_study). Run with --sync to do it here."
            )
            return

        bars: dict[str, tqdm] = {}

        def progress(phase: str, done: int, total: int) -> None:
            bar = bars.get(phase)
            if bar is None:
                # disable=None: a bar on a terminal, nothing in logs and pipes.
                bar = bars[phase] = tqdm(
                    total=total,
                    desc=llm_stages.get(phase).label,
                    unit="",
                    disable=None,
                    file=sys.stderr,
                    leave=True,
                )
            bar.total = max(total, done)
            bar.n = done
            bar.refresh()

        started = time.monotonic()
        try:
            try:
                report = reconcile.reconcile_study(study=found, wait=False, progress=progress)
            except StudyBusy:
                self.stdout.write("Another reconciliation of this study is running; waiting…")
                report = reconcile.reconcile_study(study=found, wait=True, progress=progress)
        except LLMError as error:
            raise CommandError(
                f"a transient LLM error stopped the pass: {error}. What was done is kept; "
                "run the command again to finish."
            ) from error
        finally:
            for bar in bars.values():
                bar.close()

        r = report
        self.stdout.write(f"Reconciled {found.slug} in {time.monotonic() - started:.1f}s")
        self.stdout.write(f"  cards embedded:   {r.cards_embedded}")
        self.stdout.write(f"  cards placed:     {r.cards_placed} ({r.cards_failed} failed)")
        self.stdout.write(f"  values:           {r.new_values} new, {r.merges} merges")
        self.stdout.write(
            f"  contexts:         {r.contexts_created} created, {r.contexts_merged} merged "
            f"({r.interviews_read} interviews read)"
        )
        self.stdout.write(f"  upgrade stories:  {r.hypotheses} written")
        self.stdout.write(
            f"  LLM calls:        {r.llm_calls} (cost ${r.llm_cost:.4f}); "
            f"{r.calls_per_card:.2f} dedup judge calls per card"
        )
        for failure in r.failures:
            self.stdout.write(self.style.WARNING(f"  failed: {failure}"))
        if r.graph_changed:
            self.stdout.write("  the graph changed: scoring is scheduled")
