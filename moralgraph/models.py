"""The graph side of a study: canonical Values, Contexts, upgrade stories, snapshots.

A participant's ValuesCard is never rewritten; which Value it counts toward is a
CardMapping of its own, made by a merge (or at import) and undone by a split.
"""

from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, F, Q
from django.utils import timezone

from elicitation import cards
from moralgraph.graph.payload import Position, ScoredGraph, Winner


class Value(models.Model):
    """A canonical value: the node of the moral graph that one or more cards express."""

    class Wording(models.TextChoices):
        CARD = "card", "A participant's card"
        LLM = "llm", "Written by the LLM"
        IMPORTED = "imported", "Imported"

    study = models.ForeignKey("elicitation.Study", on_delete=models.CASCADE, related_name="values")
    title = models.CharField(max_length=cards.TITLE_MAX_CHARS)
    description = models.TextField()
    # The reference app's longer wording (instructionsDetailed), kept for imported values
    # so that a reference-json export gives it back as published.
    instructions_detailed = models.TextField(blank=True)
    policies = models.JSONField(default=list)
    wording_source = models.CharField(max_length=10, choices=Wording.choices, default=Wording.CARD)
    representative_card = models.ForeignKey(
        "elicitation.ValuesCard",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    # A value whose cards were all merged elsewhere stays as a record but leaves the graph.
    is_active = models.BooleanField(default=True)
    # Moderation (elicitation.models.Moderation): hidden from selection, stories, scoring
    # and exports, kept as a record.
    hidden_reason = models.CharField(max_length=30, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["study", "id"]
        indexes = [models.Index(fields=["study", "is_active"])]

    def __str__(self) -> str:
        return self.title


class ValueMerge(models.Model):
    """One deduplication decision: these cards' values became one. Undone by a split."""

    study = models.ForeignKey("elicitation.Study", on_delete=models.CASCADE, related_name="merges")
    into_value = models.ForeignKey(Value, on_delete=models.CASCADE, related_name="merges_in")
    from_value = models.ForeignKey(
        Value, null=True, blank=True, on_delete=models.SET_NULL, related_name="merges_out"
    )
    card_ids = models.JSONField(default=list, help_text="The cards that moved.")
    decided_by = models.CharField(max_length=20, default="llm", help_text="llm, admin or import.")
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=16, blank=True)
    similarity = models.FloatField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class CardMapping(models.Model):
    """Which Value a card counts toward, since when, and why. The current mapping is the
    one not undone; history stays so a merge can be split and audited."""

    card = models.ForeignKey(
        "elicitation.ValuesCard", on_delete=models.CASCADE, related_name="mappings"
    )
    value = models.ForeignKey(Value, on_delete=models.CASCADE, related_name="mappings")
    merge = models.ForeignKey(
        ValueMerge, null=True, blank=True, on_delete=models.SET_NULL, related_name="mappings"
    )
    mapped_by = models.CharField(max_length=20, default="new", help_text="new, llm, admin, import.")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["card"], condition=Q(undone_at=None), name="one_current_mapping_per_card"
            ),
        ]


class MergeCheck(models.Model):
    """A participant's check of a merge: is their card the same value as the one it was
    merged into, or a different one? Asked by the reconciliation's follow-up question, or
    imported from the reference's deduplicationVerification.json."""

    class Answer(models.TextChoices):
        SAME = "same", "The same value"
        DIFFERENT = "different", "A different value"

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="merge_checks"
    )
    participant = models.ForeignKey(
        "elicitation.Participant", on_delete=models.CASCADE, related_name="merge_checks"
    )
    card = models.ForeignKey(
        "elicitation.ValuesCard", on_delete=models.CASCADE, related_name="merge_checks"
    )
    # The value the card was shown as merged into, and the merge that did it when known
    # (an imported check knows only the value).
    value = models.ForeignKey(Value, on_delete=models.CASCADE, related_name="merge_checks")
    merge = models.ForeignKey(
        ValueMerge, null=True, blank=True, on_delete=models.SET_NULL, related_name="checks"
    )
    answer = models.CharField(max_length=10, choices=Answer.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Asked again about the same card and value, a participant changes their answer.
            models.UniqueConstraint(
                fields=["participant", "card", "value"], name="merge_check_unique"
            ),
        ]


class Context(models.Model):
    """A "When ..." phrase naming the kind of situation in which a value applies."""

    class Source(models.TextChoices):
        QUESTION = "question", "From a question"
        INTERVIEW = "interview", "From an interview"
        IMPORTED = "imported", "Imported"

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="contexts"
    )
    text = models.CharField(max_length=300)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.QUESTION)
    questions = models.ManyToManyField("elicitation.Question", blank=True, related_name="contexts")
    # Deduplication points a context at the one it duplicates, keeping the record.
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    external_id = models.CharField(max_length=300, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["study", "text"]
        constraints = [
            models.UniqueConstraint(fields=["study", "text"], name="context_text_unique"),
        ]

    def __str__(self) -> str:
        return self.text


class HypothesisRun(models.Model):
    """One incremental pass that wrote upgrade stories."""

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="hypothesis_runs"
    )
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=16, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    # Counted with the stories each call brought, in one transaction: what the study's
    # story budget has spent, exact even when a worker dies between two calls.
    calls = models.PositiveIntegerField(default=0)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)


class UpgradeHypothesis(models.Model):
    """A story of someone who moved from value A to value B in a context."""

    class Direction(models.TextChoices):
        FORWARD = "forward", "Forward"
        REVERSE = "reverse", "Reverse"

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="hypotheses"
    )
    from_value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="upgrades_from")
    to_value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="upgrades_to")
    context = models.ForeignKey(Context, on_delete=models.PROTECT, related_name="hypotheses")
    story = models.TextField()
    mapping = models.JSONField(default=list, blank=True, help_text="A's policies onto B's.")
    direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.FORWARD
    )
    run = models.ForeignKey(
        HypothesisRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="hypotheses"
    )
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=16, blank=True)
    # Retired hypotheses (say, after a merge made A and B one value) are no longer drawn
    # but are never deleted once judged.
    is_active = models.BooleanField(default=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "upgrade hypotheses"
        constraints = [
            models.UniqueConstraint(
                fields=["from_value", "to_value", "context"], name="hypothesis_unique"
            ),
            models.CheckConstraint(
                condition=~Q(from_value=models.F("to_value")), name="hypothesis_two_values"
            ),
        ]


class GraphSnapshot(models.Model):
    """One scoring run: its parameters, the hash of its inputs and its results."""

    class Mode(models.TextChoices):
        DEFAULT = "default", "Default"
        COMPAT = "compat", "Compatibility (reference)"

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="snapshots"
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.DEFAULT)
    params = models.JSONField(default=dict)
    as_of = models.DateTimeField(null=True, blank=True)
    input_hash = models.CharField(max_length=64)
    judgment_count = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The same inputs give the same snapshot, stored once.
            models.UniqueConstraint(
                fields=["study", "mode", "input_hash"], name="snapshot_inputs_unique"
            ),
        ]

    @classmethod
    def latest_for(cls, study, mode: str = Mode.DEFAULT) -> GraphSnapshot | None:
        """The study's latest snapshot in ``mode``: the one rule every page and export uses.

        The newest scored over every judgment there was (no cut-off, or a cut-off after the
        moment it was scored); an earlier cut-off only when there is nothing else. A run
        over the same inputs is stored once, so the debounced scoring may find its
        snapshot already there as such a cut-off run.
        """
        return cls._latest_first(study, mode).first()

    @classmethod
    def latest_key_for(cls, study, mode: str = Mode.DEFAULT) -> tuple[int, str] | None:
        """The id and input hash of ``latest_for``'s snapshot, without reading its results:
        together they name its results (an id alone may come again after a database's
        sequences were reset)."""
        return cls._latest_first(study, mode).values_list("id", "input_hash").first()

    @classmethod
    def _latest_first(cls, study, mode: str):
        # latest_for's rule as one ORDER BY: complete runs first, then the newest.
        complete = ExpressionWrapper(
            Q(as_of=None) | Q(as_of__gte=F("created_at")), output_field=models.BooleanField()
        )
        return cls.objects.filter(study=study, mode=mode).order_by(
            complete.desc(), "-created_at", "-id"
        )

    @cached_property
    def payload(self) -> ScoredGraph:
        """The results, typed (moralgraph.graph.payload)."""
        return ScoredGraph.from_json(self.results)

    def winner_for(self, question, context) -> Winner | None:
        """The value that came out wisest in ``context`` for ``question``.

        ``context`` is a Context (or its id): a duplicate counts as the context it
        duplicates. ``question`` is a Question, its id, or None for any; a context tied to
        no question applies to every question. In compat mode contexts are pooled, so the
        winner is the pooled one.
        """
        if not isinstance(context, Context):
            context = Context.objects.filter(pk=context, study_id=self.study_id).first()
            if context is None:
                return None
        if question is not None:
            asked = {q.pk for q in context.questions.all()}
            if asked and getattr(question, "pk", question) not in asked:
                return None
        return self.payload.winner_in(context.duplicate_of_id or context.pk)

    def position_of(self, value) -> Position:
        """Where a value (a Value or its id) sits: per context that ranks it, its rank, the
        winner, and the values judged wiser and less wise than it on kept edges."""
        return self.payload.position_of(getattr(value, "pk", value))


class TrainingResponse(models.Model):
    """An assistant response written under one value's guidance, cached for exports."""

    value = models.ForeignKey(Value, on_delete=models.CASCADE, related_name="training_responses")
    question = models.ForeignKey("elicitation.Question", on_delete=models.CASCADE, related_name="+")
    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=200)
    prompt_version = models.CharField(max_length=16)
    response = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["value", "question", "context", "model", "prompt_version"],
                name="training_response_cache_key",
            ),
        ]


class ExportJob(models.Model):
    """A researcher's export, built in the background with progress."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    study = models.ForeignKey("elicitation.Study", on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=30)
    mode = models.CharField(max_length=10, default="default")
    as_of = models.DateTimeField(null=True, blank=True)
    snapshot = models.ForeignKey(GraphSnapshot, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    path = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # Touched when the job is claimed and at each step of progress: a running job whose
    # heartbeat stops (its worker died) can be claimed again.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class AuditEntry(models.Model):
    """Who changed a study by hand, when and why: a researcher's merge or split of values
    (and whatever else a researcher decides by hand, such as moderation). Written once,
    never edited; the quality page shows the study's log."""

    class Action(models.TextChoices):
        MERGE = "merge", "Merged two values"
        SPLIT = "split", "Split a merge"
        HIDE = "hide", "Hid an item"
        UNHIDE = "unhide", "Unhid an item"
        STATUS = "status", "Changed the study's status"
        SETTINGS = "settings", "Changed the study's settings"
        MEMBER = "member", "Changed a member's role"

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The actor's name as it was, kept when the account is gone.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=30, choices=Action.choices)
    target_type = models.CharField(max_length=40, help_text="What was acted on, e.g. merge.")
    target_id = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["study", "-created_at"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor_name or 'someone'}"


class ApiToken(models.Model):
    """A researcher's token for the read API: reaches only studies where they have a role.

    The secret is shown once at creation; only its sha256 is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The token's first characters, shown.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class SimulationRun(models.Model):
    """A simulated pilot: persona participants walked the real journey; its figures and
    the cost estimate for the planned number of participants."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="simulations"
    )
    participants = models.PositiveIntegerField()
    planned_participants = models.PositiveIntegerField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    figures = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
