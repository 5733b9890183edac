"""Import a study run with the reference app from its JSON table dumps (MGE.md, "The
reference's raw data format").

``import_reference(directory, study_slug=...)`` reads every file first and checks each row,
so that malformed input stops the import before anything is written, with the file, the row
(1-based position in the file's array) and the field named. It then writes everything in one
transaction. Rows already imported (matched on the reference's ids, kept as ``external_id``)
are left as they are, so a second run with the same dump changes nothing.

Files read: ``case.json``, ``context.json``, ``canonicalValuesCard.json`` and ``edge.json``
(required); ``valuesCard.json``, ``edgeHypothesis.json``, ``vote.json``, ``impression.json``,
``demographic.json``, ``chat.json``, ``contextsOnCases.json``,
``graphPositionVerification.json``, ``deduplicationVerification.json`` and
``deduplication.json`` (optional; of ``chat.json`` only ``id``, ``userId`` and
``questionId``/``caseId`` are read, never the transcript). Only the fields named below are read
from any row, so extra columns (a recruiter id in ``demographic.json``, say) are never
stored. ``user.json`` and ``emailCodes.json`` hold emails and recruiter ids: never opened.
A study's survey export (CSV) may come with it: see ``survey``.

Decisions worth knowing:

- ``vote.json`` and ``impression.json`` rows point at canonical values (``valuesCardId``).
- The reference's edge table is keyed on (userId, fromId, toId), so a participant could judge
  A -> B and later B -> A. We keep both, because the compat reproduction counts every row:
  the first (by createdAt, then row) gets the usual ``pair_key`` "low:high" and a later one
  "low:high#2", which keeps the database's one-judgment-per-pair rule for new judgments and
  marks the repeat. Two rows with the same (userId, fromId, toId) cannot come from the
  reference and are rejected.
- Each (fromId, toId, contextId) judged becomes an UpgradeHypothesis with the row's story.
  Hypotheses known only from ``edge.json`` (the reference deleted each run's stories when it
  wrote new ones) are imported as retired (``is_active=False``), so they are never drawn
  again if the study is reopened.
- Cards are submitted and already reconciled: the reference's canonicalCardId becomes a
  CardMapping(mapped_by="import"); a card with none (quality "invalid", say) has no mapping.
- Contexts are linked to questions as ``contextsOnCases.json`` says; only without that file
  are the links inferred (to the questions whose values were judged in a context), and the
  report says so.
- ``graphPositionVerification.json`` gives each participant's answer to the paper's "is your
  value's position fair?" (their latest, with its date) and ``deduplicationVerification.json``
  their "same / different" checks of a merge (MergeCheck): see ``verifications``.
- ``instructionsShort`` becomes the description and ``instructionsDetailed`` is kept
  beside it (``instructions_detailed``), for values and cards alike.
"""

from __future__ import annotations

from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from elicitation.models import (
    Demographics,
    Impression,
    Participant,
    Selection,
    Study,
    ValuesCard,
    WiserJudgment,
)
from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value
from moralgraph.services.importers import (
    cases,
    judgments,
    participants,
    selections,
    survey,
    values,
    verifications,
)
from moralgraph.services.importers.base import (
    ImportReport,
    ImportState,
    Progress,
    ReferenceDumpError,
)
from moralgraph.services.importers.dump import Dump, read_dump

__all__ = ["ImportReport", "ReferenceDumpError", "import_reference", "read_dump"]


def import_reference(
    directory: Path | str,
    *,
    study_slug: str,
    title: str = "",
    survey_file: Path | str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a reference dump, and a survey export if given, into the study
    ``study_slug`` (created if missing); nothing is written if either is malformed."""
    say = progress or (lambda message: None)
    dump = read_dump(directory, say)
    responses = survey.read_survey(survey_file, say) if survey_file is not None else None
    with transaction.atomic():
        report = _write(dump, study_slug, title, say)
        if responses is not None:
            created, existing = survey.write_survey(study=report.study, survey=responses, say=say)
            report.created["survey responses"] += created
            report.existing["survey responses"] += existing
            report.skipped.update(responses.skipped)
            report.notes += responses.notes
    refresh_statistics()
    return report


# The tables an import fills in bulk.
_BULK = (
    Participant,
    Demographics,
    ValuesCard,
    Value,
    CardMapping,
    Context,
    UpgradeHypothesis,
    WiserJudgment,
    Selection,
    Impression,
)


def refresh_statistics() -> None:
    """Have the database re-read the tables an import fills (ANALYZE), as PostgreSQL's
    guide says to after a bulk load. Until its autovacuum gets to them (never, where it
    is off), the planner takes them for empty: an export of a freshly imported 200,000-
    judgment study then read the cards of each value by scanning every mapping (7 s for one
    query; 20 s for reference-json, 4 min for the CSV, against 1 s and 8 s once analyzed)."""
    if connection.vendor != "postgresql":
        return  # SQLite plans well without statistics; ANALYZE there could change that
    with connection.cursor() as cursor:
        for model in _BULK:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _write(dump: Dump, slug: str, title: str, say: Progress) -> ImportReport:
    study, created = Study.objects.get_or_create(
        slug=slug,
        defaults={
            "title": title or slug,
            "description": "Imported from the reference app's table dumps.",
            "status": Study.Status.CLOSED,
        },
    )
    state = ImportState(dump, study, say)
    state.report.created["study"] += created
    state.report.existing["study"] += not created

    # In this order: each family points at the rows the ones before it wrote.
    cases.write_questions(state)
    cases.write_contexts(state)
    values.write_values(state)
    participants.write_participants(state)
    values.write_cards(state)
    judgments.write_hypotheses(state)
    judgments.write_judgments(state)
    selections.write_draws(state, "selections", Selection, dump.votes)
    selections.write_draws(state, "impressions", Impression, dump.impressions)
    participants.write_demographics(state)
    cases.link_contexts(state)
    verifications.write_fair_answers(state)
    verifications.write_merge_checks(state)
    if state.report.changed:
        # New judgments: the graph needs scoring (the sweep picks this up).
        Study.objects.filter(pk=study.pk).update(graph_changed_at=timezone.now())
    return state.report
