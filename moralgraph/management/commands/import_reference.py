from django.core.management.base import BaseCommand, CommandError

from moralgraph.services.importers import ReferenceDumpError, import_reference


class Command(BaseCommand):
    help = (
        "Import a study run with the reference MGE app from a directory of its JSON table "
        "dumps (case.json, context.json, canonicalValuesCard.json, edge.json, ...), and "
        "optionally its survey export (--survey FILE, a CSV). Idempotent; user.json and "
        "emailCodes.json are never read, and the survey's recruiter ids are never stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="Folder holding the dump's JSON files.")
        parser.add_argument("--study", required=True, help="Slug of the study to import into.")
        parser.add_argument("--title", default="", help="Title if the study is created.")
        parser.add_argument(
            "--survey",
            default=None,
            metavar="FILE",
            help="The study's survey export as CSV (a spreadsheet form's download).",
        )

    def handle(self, *args, directory, study, title, survey, **options):
        try:
            report = import_reference(
                directory,
                study_slug=study,
                title=title,
                survey_file=survey,
                progress=self.stdout.write,
            )
        except ReferenceDumpError as error:
            raise CommandError(f"Nothing imported. {error}") from None
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        for reason, n in sorted(report.skipped.items()):
            if n:
                self.stdout.write(f"skipped: {n} survey rows: {reason}")
        created = sum(report.created.values())
        if created:
            self.stdout.write(
                self.style.SUCCESS(f"Imported {created} rows into study '{report.study.slug}'.")
            )
        else:
            self.stdout.write(f"Nothing new: study '{report.study.slug}' already holds this dump.")
