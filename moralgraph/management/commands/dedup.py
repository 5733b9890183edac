"""python manage.py dedup --study SLUG [--dry-run [--judge]]"""

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from elicitation.llm import LLMError
from elicitation.models import Study
from moralgraph import locks
from moralgraph.services import dedup
from moralgraph.services.dedup_judge import LLMJudge
from moralgraph.services.dedup_preview import preview_pending_cards


class Command(BaseCommand):
    help = (
        "Place a study's pending cards into values now (the dedup step alone). With "
        "--dry-run, print each pending card's candidates and the judge calls a pass would "
        "make, writing nothing; with --judge too, ask the judge (logged calls that cost "
        "money) and print its decisions, still merging nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG")
        parser.add_argument("--dry-run", action="store_true", help="Write nothing.")
        parser.add_argument(
            "--judge", action="store_true", help="With --dry-run: ask the judge as well."
        )

    def handle(self, *, study: str, dry_run: bool, judge: bool, **options):
        found = Study.objects.filter(slug=study).first()
        if found is None:
            raise CommandError(f"no study with slug {study!r}")
        if judge and not dry_run:
            raise CommandError("--judge goes with --dry-run (a real pass always asks the judge)")
        if dry_run:
            return self._dry_run(found, judge)
        with locks.study_lock(found.pk, wait=False) as acquired:
            if not acquired:
                raise CommandError(f"study {found.slug} is being reconciled now; try again soon")
            stats = dedup.DedupStats()
            try:
                dedup.place_pending_cards(found, stats)
            except LLMError as error:
                raise CommandError(f"stopped by a transient LLM error: {error}") from None
        self.stdout.write(json.dumps(asdict(stats)))

    def _dry_run(self, study: Study, ask: bool) -> None:
        preview = preview_pending_cards(study, judge=LLMJudge(study) if ask else None)
        write = self.stdout.write
        for row in preview.cards:
            card = row.card
            where = f"call {row.batch}" if row.batch else "no call: no candidate"
            write(f"card {card.pk} {card.title!r} ({where})")
            for index, candidate in enumerate(row.candidates):
                kind, pk = candidate.member
                name = row.shown[index].title if row.shown else ""
                value = (
                    f"pending card {-candidate.value_id}"
                    if candidate.value_id < 0
                    else f"value {candidate.value_id}"
                )
                write(
                    f"  {value} via {kind} {pk} {name!r}: similarity "
                    f"{candidate.similarity:.2f}, word overlap {candidate.overlap:.2f}"
                )
            if row.verdict is not None:
                picked = [row.candidates[i] for i in row.verdict.same_as]
                same = ", ".join(
                    f"pending card {-c.value_id}" if c.value_id < 0 else f"value {c.value_id}"
                    for c in picked
                )
                write(f"  judge: {'same as ' + same if same else 'a value of its own'}")
                write(f"    {row.verdict.reason}")
        for error in preview.errors:
            write(f"error: {error}")
        write(
            f"{len(preview.cards)} pending card(s); a pass would make {preview.calls} judge "
            f"call(s){'; asked' if ask else ''}. Nothing was written."
        )
