"""``csv``: a zip of tidy tables, one row per thing, that pandas and R read as they are.

Tables: questions, contexts, values, cards, hypotheses, judgments, selections, impressions,
survey_answers and participants (the raw study, rows made before the snapshot's as_of), and
edges and ranks (plus winners in the default mode) from the snapshot. Ids are our ids as
strings; participants appear only as their random ``public_id``, with their political
group. Lists (policies) are JSON arrays in one cell; times are ISO-8601 UTC. A reason the
participant marked private is left empty, never exported. A text cell that a spreadsheet
would run as a formula starts with an apostrophe (``data.safe_cell``). A judgment's
``draw_policy`` and ``context_status`` say how its story was drawn (uniform, adaptive or
fill; the context's status then), empty for judgments drawn before adaptive elicitation
or imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from json.encoder import encode_basestring  # the C one, as json.dumps uses

from django.db.models import Case, OuterRef, Q, Subquery, TextField, Value, When

from elicitation.models import (
    Impression,
    JudgmentAssignment,
    Participant,
    Selection,
)
from elicitation.selectors import (
    counted_cards,
    counted_judgments,
    counted_participants,
    counted_survey_answers,
)
from moralgraph.models import CardMapping, UpgradeHypothesis
from moralgraph.services.exports import scored_tables
from moralgraph.services.exports.data import (
    ExportData,
    IsoTime,
    Unindexed,
    UuidText,
    csv_bytes,
    raw_rows,
    table_csv,
    zip_bytes,
)

CHUNK = 5000


def _s(value) -> str:
    return "" if value is None else str(value)


def json_cell(value) -> str:
    """A JSON value (policies, choices) as its CSV cell: ``json.dumps(value,
    ensure_ascii=False)``. A list of texts, which policies are, is written as the json
    module writes one (its own string encoder, ", " between items) without the encoder's
    set-up per value: a third of the cards table's time at 66,000 cards."""
    if value.__class__ is list and all(item.__class__ is str for item in value):
        return "[" + ", ".join(map(encode_basestring, value)) + "]"
    return json.dumps(value, ensure_ascii=False)


def json_text_cell(text: str) -> str:
    """``json_cell`` of a JSON column as the driver gives it (``raw_rows``): its text."""
    # The json module's reading, not orjson's: orjson reads an integer past 64 bits as a
    # float, and no NaN at all.
    return json_cell(json.loads(text))


class _Tables:
    def __init__(self, data: ExportData):
        self.data = data
        self.study = data.study
        # Each public id as text once, not once per row that names it.
        self.participant_ids = dict(
            raw_rows(
                Participant.objects.filter(study=self.study)
                .annotate(public=UuidText("public_id"))
                .values_list("pk", "public")
            )
        )
        self.participant_ids[None] = ""
        # Test participants are in no table (the one "counted" rule); those who abandoned
        # are: what they submitted counts.
        self.counted = counted_participants(self.study, include_abandoned=True)

    def pid(self, pk: int | None) -> str:
        return self.participant_ids[pk]

    def files(self) -> Iterator[tuple[str, bytes]]:
        """The tables one at a time: ``zip_bytes`` deflates each while the next is made."""
        yield "questions.csv", self.questions()
        yield "contexts.csv", self.contexts()
        yield "values.csv", self.values()
        yield "cards.csv", self.cards()
        yield "hypotheses.csv", self.hypotheses()
        yield "judgments.csv", self.judgments()
        yield "selections.csv", self.draws(Selection, with_reason=False)
        yield "impressions.csv", self.draws(Impression, with_reason=True)
        yield "survey_answers.csv", self.survey()
        yield "participants.csv", self.participants()
        yield "demographic_items.csv", self.demographic_items()
        yield from scored_tables.files(self.data)

    # --- The study's rows --------------------------------------------------------------

    def questions(self) -> bytes:
        return csv_bytes(
            ["question_id", "key", "title", "text", "position"],
            ([q.pk, q.key, q.title, q.text, q.position] for q in self.data.questions),
        )

    def contexts(self) -> bytes:
        return csv_bytes(
            ["context_id", "text", "source", "question_ids"],
            (
                [cid, c.text, c.source, ";".join(self.data.context_questions[cid])]
                for cid, c in self.data.contexts.items()
            ),
        )

    def values(self) -> bytes:
        roots = self.data.roots
        return csv_bytes(
            [
                "value_id",
                "external_id",
                "title",
                "description",
                "policies",
                "wording_source",
                "is_active",
                "merged_into",
                "cards_merged",
            ],
            (
                [
                    vid,
                    v.external_id,
                    v.title,
                    v.description,
                    json_cell(v.policies),
                    v.wording_source,
                    v.is_active,
                    _s(roots.get(v.pk)),
                    self.data.card_counts.get(vid, 0),
                ]
                for vid, v in self.data.values.items()
            ),
        )

    def cards(self) -> bytes:
        mapped = dict(
            CardMapping.objects.filter(card__study=self.study, undone_at=None).values_list(
                "card_id", "value_id"
            )
        )
        roots = self.data.roots
        rows = (
            counted_cards(self.study)
            .filter(self.data.before())
            .annotate(submitted=IsoTime("submitted_at"))
            .order_by("pk")
            .values_list(
                "pk",
                "external_id",
                "participant_id",
                "question_id",
                "title",
                "description",
                "policies",
                "quality",
                "edited_by_participant",
                "submitted",
            )
        )

        pids = self.participant_ids

        def lines() -> Iterator[list]:
            for (
                pk,
                ext,
                participant,
                question,
                title,
                desc,
                policies,
                quality,
                edited,
                at,
            ) in raw_rows(rows, chunk_size=CHUNK):
                value = mapped.get(pk)
                if value is not None and self.data.is_hidden(value):
                    continue  # the card of a hidden value: out with its value
                yield [
                    pk,
                    ext,
                    pids[participant],
                    _s(question),
                    title,
                    desc,
                    json_text_cell(policies) if policies.__class__ is str else json_cell(policies),
                    quality,
                    bool(edited),  # SQLite gives 0 or 1
                    "" if value is None else roots.get(value, value),
                    at or "",
                ]

        return csv_bytes(
            [
                "card_id",
                "external_id",
                "participant_id",
                "question_id",
                "title",
                "description",
                "policies",
                "quality",
                "edited_by_participant",
                "value_id",
                "submitted_at",
            ],
            lines(),
        )

    def hypotheses(self) -> bytes:
        rows = (
            UpgradeHypothesis.objects.filter(study=self.study)
            .filter(self.data.before())
            .order_by("pk")
            .values_list(
                "pk",
                "from_value_id",
                "to_value_id",
                "context_id",
                "story",
                "direction",
                "is_active",
                "model",
                "prompt_version",
            )
        )
        return csv_bytes(
            [
                "hypothesis_id",
                "from_value_id",
                "to_value_id",
                "context_id",
                "story",
                "direction",
                "is_active",
                "model",
                "prompt_version",
            ],
            (
                list(row)
                for row in rows.iterator(chunk_size=CHUNK)
                if not (self.data.is_hidden(row[1]) or self.data.is_hidden(row[2]))
            ),
        )

    def judgments(self) -> bytes:
        # Everything a row needs is written by the database (public id, time, a private
        # reason left empty, hidden values out): no Python per row (``table_csv``).
        # How the story was drawn (adaptive elicitation): the assignment that showed it.
        # At most one row (one assignment per participant and story): no ordering, which
        # by the model's default would join the participant for every judgment.
        shown = JudgmentAssignment.objects.filter(
            participant_id=OuterRef("participant_id"), hypothesis_id=OuterRef("hypothesis_id")
        ).order_by()
        rows = (
            counted_judgments(self.study)
            .filter(self.data.before())
            .exclude(
                self.hidden("hypothesis__from_value_id") | self.hidden("hypothesis__to_value_id")
            )
            .annotate(
                public=UuidText("participant__public_id"),
                shown_reason=Case(
                    When(reason_private=True, then=Value("")),
                    default="reason",
                    output_field=TextField(),
                ),
                at=IsoTime("created_at"),
                draw_policy=Subquery(shown.values("policy")[:1]),
                draw_status=Subquery(shown.values("context_status")[:1]),
            )
            .order_by("pk")
            .values_list(
                "pk",
                "public",
                "hypothesis_id",
                "hypothesis__from_value_id",
                "hypothesis__to_value_id",
                "hypothesis__context_id",
                "verdict",
                "shown_reason",
                "at",
                "draw_policy",
                "draw_status",
            )
        )
        return table_csv(
            [
                "judgment_id",
                "participant_id",
                "hypothesis_id",
                "from_value_id",
                "to_value_id",
                "context_id",
                "verdict",
                "reason",
                "created_at",
                "draw_policy",
                "context_status",
            ],
            rows,
            plain=(0, 1, 2, 3, 4, 5, 8),
        )

    def draws(self, model: type, *, with_reason: bool) -> bytes:
        # As judgments: everything written by the database.
        fields = ["pk", "public", "question_id", "value_id", "draw_id", "at"]
        if with_reason:
            fields.insert(5, "reason")
        rows = (
            model.objects.alias(by=Unindexed("participant_id"))
            .filter(by__in=self.counted.values("pk"))
            .filter(self.data.before())
            .exclude(self.hidden("value_id"))
            .annotate(public=UuidText("participant__public_id"), at=IsoTime("created_at"))
            .order_by("pk")
            .values_list(*fields)
        )
        header = ["id", "participant_id", "question_id", "value_id", "draw_id"]
        header += ["draw_reason"] if with_reason else []
        header += ["created_at"]
        return table_csv(header, rows, plain=(0, 1, 2, 3, len(header) - 1))

    def hidden(self, field: str) -> Q:
        """Rows whose ``field`` names a value out of the graph by moderation (or merged into
        one): none, as a rule, else a handful of ids."""
        hidden = self.data.hidden_or_merged_into_hidden
        return Q(**{f"{field}__in": sorted(hidden)}) if hidden else Q()

    def survey(self) -> bytes:
        fields = ["represented", "clarified", "learned", "trust", "fair_position", "comment"]
        rows = (
            counted_survey_answers(self.study)
            .filter(participant__study=self.study)
            .filter(self.data.before())
            .order_by("participant_id")
            .values_list("participant_id", *fields)
        )
        return csv_bytes(
            ["participant_id", *fields],
            ([self.pid(row[0]), *(_s(x) for x in row[1:])] for row in rows),
        )

    def participants(self) -> bytes:
        """A participant per row, by their random id: question, political group (as the
        reference had it), completed, the study's group, whether they count, and their
        answer to each of the study's "About you" items (``answer_<key>``). Never a
        recruiter id."""
        keys = [item.key for item in self.data.demographic_items]
        rows = self.data.participants
        return csv_bytes(
            [
                "participant_id",
                "question_id",
                "political_group",
                "completed",
                "group",
                "counted",
                *(f"answer_{key}" for key in keys),
            ],
            (
                [
                    row["id"],
                    row["question_id"] or "",
                    row["answers"].get("political_affiliation", ""),
                    row["completed"],
                    row["group"] or "",
                    row["counted"],
                    *(row["answers"].get(key, "") for key in keys),
                ]
                for row in rows
            ),
        )

    def demographic_items(self) -> bytes:
        """What the ``answer_<key>`` columns of participants.csv asked."""
        return csv_bytes(
            ["key", "label", "kind", "choices"],
            ([i.key, i.label, i.kind, json_cell(i.choices)] for i in self.data.demographic_items),
        )


def files(data: ExportData) -> Iterator[tuple[str, bytes]]:
    return _Tables(data).files()


def build(data: ExportData) -> bytes:
    return zip_bytes(files(data), data.snapshot.created_at)
