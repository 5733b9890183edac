"""A Study and the Questions it asks."""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from elicitation import llm
from elicitation.models.participant import DemographicItem


def _completion_code() -> str:
    return secrets.token_hex(4).upper()


def _default_group_answers() -> list[str]:
    return ["democrat", "republican"]


def _pilot_token() -> str:
    return secrets.token_urlsafe(24)


# Words research URLs use (or will) besides the ones read from the URLconf below.
_ALWAYS_RESERVED = frozenset(
    {"new", "api", "admin", "static", "media", "accounts", "login", "logout", "members", "settings"}
)


def _literal_heads(patterns) -> set[str]:
    """The literal first segments of ``patterns``' routes ("s" of "s/<slug:slug>/")."""
    heads = set()
    for pattern in patterns:
        if str(pattern.pattern) == "" and hasattr(pattern, "url_patterns"):
            heads |= _literal_heads(pattern.url_patterns)  # an include at the same level
            continue
        head = str(pattern.pattern).lstrip("^").split("/")[0]
        if head and "<" not in head and not any(c in head for c in "()[]?*+\\$"):
            heads.add(head)
    return heads


def reserved_slugs() -> frozenset[str]:
    """Words a study slug may not be: every literal first path segment of the site root
    and of /research/ (and of a study's pages there), so /research/<slug>/ never shadows
    a research page. Read from the URLconf, so a new page reserves its word itself."""
    from django.urls import get_resolver

    root = get_resolver()
    words = set(_ALWAYS_RESERVED) | _literal_heads(root.url_patterns)
    for pattern in root.url_patterns:
        if str(pattern.pattern) == "research/" and hasattr(pattern, "url_patterns"):
            words |= _literal_heads(pattern.url_patterns)
            for sub in pattern.url_patterns:
                route = str(sub.pattern)
                if route.startswith("<slug:slug>/"):
                    rest = route.removeprefix("<slug:slug>/").split("/")[0]
                    if rest and "<" not in rest:
                        words.add(rest)
    return frozenset(words)


def validate_study_slug(value: str) -> None:
    if value.lower() in reserved_slugs():
        raise ValidationError(
            f"“{value}” is a word the research pages use in their addresses; choose another slug.",
            code="reserved",
        )


class Moderation(models.TextChoices):
    """Why a researcher hid a card or a value (it stays stored, out of the graph)."""

    OFF_TOPIC = "off_topic", "Off-topic"
    ABUSIVE = "abusive", "Abusive"
    JOKE = "joke", "Joke or nonsense"
    DUPLICATE_PARTICIPANT = "duplicate_participant", "Duplicate participant"


class Study(models.Model):
    class Status(models.TextChoices):
        # draft -> pilot -> live -> closing -> closed (see services.lifecycle).
        DRAFT = "draft", "Draft"
        PILOT = "pilot", "Pilot"  # only the study's test link admits participants
        LIVE = "live", "Live"
        CLOSING = "closing", "Closing"  # no new arrivals; those inside may finish
        CLOSED = "closed", "Closed"

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    consent_text = models.TextField(
        default="This study asks you to talk with an AI interviewer about how an AI "
        "should answer a hard question, and to judge other people's answers. Your "
        "answers are stored without your name and published for research."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    estimated_minutes = models.PositiveSmallIntegerField(default=15)
    licence = models.CharField(max_length=100, default="CC-BY-4.0")

    # Which steps run, and how much of each. The defaults follow the paper's study.
    demographics_enabled = models.BooleanField(default=True)
    # Which "About you" item defines the groups that bridging compares, and which of its
    # answers are groups; any other answer, or none, leaves a participant unlabelled.
    group_item_key = models.CharField(
        max_length=40,
        blank=True,
        default="political_affiliation",
        help_text="Key of the About-you item whose answers define groups; blank for none.",
    )
    group_answers = models.JSONField(
        default=_default_group_answers,
        blank=True,
        help_text='The answers of that item that form groups, e.g. ["democrat", "republican"].',
    )
    interview_min_turns = models.PositiveSmallIntegerField(
        default=3, help_text="Participant messages before the card can be drafted."
    )
    selection_enabled = models.BooleanField(default=True)
    selection_count = models.PositiveSmallIntegerField(default=6)
    min_selections = models.PositiveSmallIntegerField(default=0)
    judgments_enabled = models.BooleanField(default=True)
    judgment_count = models.PositiveSmallIntegerField(default=3)
    survey_enabled = models.BooleanField(default=True)

    # Limits that keep one participant (or a script) from running up the LLM bill.
    message_max_chars = models.PositiveIntegerField(default=2000)
    messages_per_minute = models.PositiveSmallIntegerField(default=6)
    messages_per_hour_study = models.PositiveIntegerField(default=3000)

    # Recruiter hand-off (Prolific and the like).
    completion_url = models.URLField(blank=True, help_text="Where to send finished participants.")
    completion_code = models.CharField(max_length=40, default=_completion_code)
    no_consent_code = models.CharField(max_length=40, blank=True)

    # Per-stage model overrides; blank uses the LLM_*_MODEL settings.
    interview_model = models.CharField(max_length=200, blank=True)
    articulate_model = models.CharField(max_length=200, blank=True)
    dedup_model = models.CharField(max_length=200, blank=True)
    hypothesis_model = models.CharField(max_length=200, blank=True)
    response_model = models.CharField(max_length=200, blank=True)
    # Upgrade stories are the dearest LLM work: at most this many story calls (each
    # writes a few pairs' stories) per submitted card, the most informative pairs first.
    story_budget = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Upgrade-story LLM calls per submitted card (0: write no new stories).",
    )

    # Lifecycle and recruiting.
    pilot_token = models.CharField(
        max_length=64, default=_pilot_token, help_text="Secret of the study's test link."
    )
    is_public = models.BooleanField(
        default=False, help_text="Listed on the public home page (when live)."
    )
    recruiter_id_required = models.BooleanField(
        default=False, help_text="Only recruiter links (PROLIFIC_PID or pid) admit participants."
    )
    max_completed = models.PositiveIntegerField(
        null=True, blank=True, help_text="Completed participants at which the study closes."
    )
    group_quotas = models.JSONField(
        default=dict,
        blank=True,
        help_text='Completed participants per group answer, e.g. {"democrat": 250}.',
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    # Spend and sign-up limits for the public (test participants are exempt).
    budget_cap_usd = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Stop new LLM work when the study's LLM spend reaches this (USD).",
    )
    signups_per_address_hour = models.PositiveIntegerField(
        default=20, help_text="New participants admitted per network address per hour."
    )
    inactive_minutes = models.PositiveIntegerField(
        default=120, help_text="Unfinished participants idle this long count as abandoned."
    )

    # The alignment target's thresholds: overrides of the deployment's PAIRWISE_PARAMS
    # (names as in moralgraph.graph.pairwise.PairwiseParams).
    pairwise_params = models.JSONField(default=dict, blank=True)
    # Adaptive elicitation.
    uniform_share = models.FloatField(
        default=0.2, help_text="Share of pairs drawn uniformly, keeping estimates unbiased."
    )
    stable_rescorings = models.PositiveSmallIntegerField(
        default=3, help_text="A context confident this many scorings in a row is settled."
    )
    close_when_settled = models.BooleanField(
        default=False, help_text="Move to closing by itself once every context is settled."
    )

    # Reconciliation bookkeeping: when the graph's inputs last changed and were scored.
    graph_changed_at = models.DateTimeField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding:
            DemographicItem.create_defaults(self)

    def clean(self) -> None:
        # Checked here rather than as a field validator (which would need a migration):
        # the admin's and the setup page's forms both run it.
        if self.slug:
            try:
                validate_study_slug(self.slug)
            except ValidationError as error:
                raise ValidationError({"slug": error.messages}) from None
        answers = self.group_answers
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise ValidationError({"group_answers": 'A list of answers, e.g. ["democrat"].'})
        if self.pk is None or not self.group_item_key:
            return  # a new study gets the default items, which the defaults fit
        item = self.demographic_items.filter(key=self.group_item_key).first()
        if item is None or not item.is_choice:
            raise ValidationError({"group_item_key": "Not one of this study's choice items."})
        unknown = sorted(set(answers) - set(item.choice_values()))
        if unknown:
            raise ValidationError(
                {"group_answers": f"Not answers of {item.key}: {', '.join(unknown)}."}
            )

    # The lifecycle's allowed moves (services.lifecycle.transition checks them). Closing
    # can go back to live (a quota raised); closed is final: its participants are paid.
    TRANSITIONS = {
        Status.DRAFT: (Status.PILOT, Status.LIVE),
        Status.PILOT: (Status.DRAFT, Status.LIVE),
        Status.LIVE: (Status.CLOSING,),
        Status.CLOSING: (Status.LIVE, Status.CLOSED),
        Status.CLOSED: (),
    }

    def next_statuses(self) -> list[tuple[str, str]]:
        """The statuses this study may move to, as (value, label)."""
        labels = dict(self.Status.choices)
        return [(s, labels[s]) for s in self.TRANSITIONS.get(self.status, ())]

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, ())

    @property
    def is_open(self) -> bool:
        """Admits new participants (the public in live, the test link in pilot)."""
        return self.status in (self.Status.LIVE, self.Status.PILOT)

    @property
    def lets_inside_finish(self) -> bool:
        """Participants already inside can go on: open, or closing."""
        return self.is_open or self.status == self.Status.CLOSING

    def model_for(self, stage: str) -> str:
        """The litellm model for an LLM stage: the study's override, else the setting."""
        return llm.model_for(stage, self)


class StudyMember(models.Model):
    """A researcher's role on one study; research pages, exports and the API check it."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"  # reads pages, report and exports
        ANALYST = "analyst", "Analyst"  # also scores, exports, moderates, merges
        OWNER = "owner", "Owner"  # also settings, lifecycle and members

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_roles"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "user"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="study_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) on {self.study}"


class Question(models.Model):
    """A user message to an AI that needs a values-laden answer (the reference's case)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(max_length=80, help_text="Short stable name, e.g. abortion.")
    title = models.CharField(max_length=200)
    text = models.TextField(help_text="Shown as the message a user sent to an AI.")
    seed_message = models.TextField(blank=True, help_text="The interviewer's opening line.")
    position = models.PositiveSmallIntegerField(default=0)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)

    class Meta:
        ordering = ["study", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="question_key_unique"),
        ]

    def __str__(self) -> str:
        return self.title
