import sys
from datetime import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from elicitation.llm import LLMError
from elicitation.models import Study
from moralgraph.services import scoring
from moralgraph.services.exports import FORMATS, ExportError, build_export
from moralgraph.services.exports.jobs import start_export


def _as_of(text: str) -> datetime:
    try:
        return scoring.parse_as_of(text)
    except ValueError as error:
        raise CommandError(str(error)) from None


class Command(BaseCommand):
    help = "Export a study's moral graph or alignment target. Formats: " + "; ".join(
        f"{f.name} ({f.description})" for f in FORMATS.values()
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="Study slug.")
        parser.add_argument("--format", required=True, choices=list(FORMATS), dest="fmt")
        parser.add_argument(
            "--mode",
            choices=["default", "compat"],
            help="Scoring mode; each format has its own default (reference-json: compat).",
        )
        parser.add_argument(
            "--as-of", dest="as_of", help="Only judgments made before this ISO date/time."
        )
        parser.add_argument(
            "-o", "--output", help="File to write; '-' for stdout. Default: the file's name."
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="Queue an export job for the worker instead, and print its id.",
        )

    def handle(self, *args, study, fmt, mode, as_of, output, background, **options):
        found = Study.objects.filter(slug=study).first()
        if found is None:
            raise CommandError(f"no study with slug {study!r}")
        moment = _as_of(as_of) if as_of else None
        try:
            if background:
                job = start_export(study=found, fmt=fmt, mode=mode, as_of=moment)
                self.stdout.write(f"Export job {job.pk} queued ({fmt}, {job.mode}).")
                return
            export = build_export(
                study=found,
                fmt=fmt,
                mode=mode,
                as_of=moment,
                generate=True,
                progress=self._progress,
            )
        except ExportError as error:
            raise CommandError(str(error)) from None
        except LLMError as error:
            raise CommandError(
                f"Writing training responses failed: {error}. Those written so far are "
                "cached; run the export again to continue."
            ) from None
        if export.note:
            # An honest result may be that nothing is confident: say so, write the file.
            self.stderr.write(f"No training examples: {export.note}.")
        if output == "-":
            sys.stdout.buffer.write(export.content)
            sys.stdout.buffer.flush()
            return
        path = Path(output or export.filename)
        path.write_bytes(export.content)
        self.stderr.write(
            f"Wrote {path} ({len(export.content)} bytes, {export.mode} scoring, snapshot "
            f"{export.snapshot.input_hash[:12]}, {export.snapshot.judgment_count} judgments, "
            f"sha256 {export.sha256})."
        )

    def _progress(self, done: int, total: int) -> None:
        if total:
            self.stderr.write(f"Training responses: {done}/{total}")
        else:
            self.stderr.write("Training responses: all cached")
