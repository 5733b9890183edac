"""Who took part: the Participant, a declined consent, their answers about themselves
and the study-defined items those answer."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q


class Participant(models.Model):
    """An anonymous participant: a browser session, optionally a recruiter's id.

    Never an email or a name. The recruiter id (PROLIFIC_PID or pid) exists only so
    that a returning participant resumes instead of starting over; exports omit it.
    """

    class Step(models.TextChoices):
        ABOUT = "about", "About you"
        QUESTION = "question", "The question"
        INTERVIEW = "interview", "Interview"
        CARD = "card", "Your card"
        SELECTION = "selection", "Which are wise?"
        JUDGMENTS = "judgments", "Wiser or not?"
        SURVEY = "survey", "Last questions"
        DONE = "done", "Done"

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="participants"
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session_key = models.CharField(max_length=64, blank=True, db_index=True)
    recruiter_pid = models.CharField(max_length=200, blank=True)
    recruiter_study_id = models.CharField(max_length=200, blank=True)
    recruiter_session_id = models.CharField(max_length=200, blank=True)
    # The resume code shown in the browser that started: needed to continue in another
    # one (a recruiter id alone is not a password). Only a keyed hash is stored.
    resume_code_hash = models.CharField(max_length=64, blank=True, editable=False)
    question = models.ForeignKey(
        "elicitation.Question",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="participants",
    )
    step = models.CharField(max_length=20, choices=Step.choices, default=Step.ABOUT)
    # Drawn steps passed over because nothing could be drawn: progress leaves them out.
    skipped_steps = models.JSONField(default=list, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    # A test participant (pilot link, simulation) is kept but not counted: see
    # elicitation.selectors.counted_participants, the one "counted" rule.
    is_test = models.BooleanField(default=False, db_index=True)
    # The participant's own completion code for the recruiter, and the screen-out (declined
    # consent, failed attention) that ended their journey early.
    completion_code = models.CharField(max_length=40, blank=True)
    screened_out_at = models.DateTimeField(null=True, blank=True)
    screen_out_reason = models.CharField(max_length=40, blank=True)
    # Keyed hash of the network address that created the participant (sign-up limit).
    address_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Unfinished and idle past the study's inactive_minutes: kept, marked, not counted.
    abandoned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The same recruiter id never creates a second participant in a study.
            models.UniqueConstraint(
                fields=["study", "recruiter_pid"],
                condition=~Q(recruiter_pid=""),
                name="participant_recruiter_pid_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"participant {str(self.public_id)[:8]}"


class ConsentDecline(models.Model):
    """That somebody declined, and nothing else about them."""

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="declines"
    )
    created_at = models.DateTimeField(auto_now_add=True)


SEX_CHOICES = [
    ("female", "Female"),
    ("male", "Male"),
    ("another", "Another way"),
    ("prefer_not", "Prefer not to say"),
]


class Demographics(models.Model):
    """A participant's answers in "About you", keyed by the study's item keys
    (DemographicItem.key); an item left blank has no key. ``extra`` keeps an imported
    source's own wording (say the reference's "Libertarian")."""

    class Politics(models.TextChoices):
        DEMOCRAT = "democrat", "Democrat"
        REPUBLICAN = "republican", "Republican"
        INDEPENDENT = "independent", "Independent"
        OTHER = "other", "Other"
        PREFER_NOT = "prefer_not", "Prefer not to say"

    class AgeBand(models.TextChoices):
        A18 = "18-24", "18–24"
        A25 = "25-34", "25–34"
        A35 = "35-44", "35–44"
        A45 = "45-54", "45–54"
        A55 = "55-64", "55–64"
        A65 = "65+", "65 or over"
        PREFER_NOT = "prefer_not", "Prefer not to say"

    participant = models.OneToOneField(
        Participant, on_delete=models.CASCADE, related_name="demographics"
    )
    answers = models.JSONField(default=dict, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "demographics"

    def answer(self, key: str) -> str:
        return self.answers.get(key, "")


class DemographicItem(models.Model):
    """One question of a study's "About you" page. Every study starts with DEFAULTS; a
    researcher may edit, remove or add items, and names the item that defines groups
    (Study.group_item_key)."""

    class Kind(models.TextChoices):
        RADIO = "radio", "Choose one (buttons)"
        SELECT = "select", "Choose one (list)"
        TEXT = "text", "Short text"
        LONG_TEXT = "long_text", "Longer text"

    CHOICE_KINDS = (Kind.RADIO, Kind.SELECT)
    MAX_CHARS = {Kind.TEXT: 200, Kind.LONG_TEXT: 2000}

    # Today's items, as every study gets them (and migration 0006 froze them).
    DEFAULTS = (
        {
            "key": "political_affiliation",
            "label": "Which of these is closest to your political views?",
            "kind": Kind.RADIO,
            "choices": [list(c) for c in Demographics.Politics.choices],
        },
        {
            "key": "age_band",
            "label": "Your age",
            "kind": Kind.SELECT,
            "choices": [list(c) for c in Demographics.AgeBand.choices],
        },
        {
            "key": "sex",
            "label": "Your sex",
            "kind": Kind.SELECT,
            "choices": [list(c) for c in SEX_CHOICES],
        },
        {"key": "country", "label": "Country you live in", "kind": Kind.TEXT},
        {
            "key": "other",
            "label": "Anything else about you that shapes how you see these questions?",
            "help_text": "For example your faith, your work or your family. Optional.",
            "kind": Kind.LONG_TEXT,
        },
    )

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="demographic_items"
    )
    key = models.CharField(
        max_length=40,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9_]*$", "Lower-case letters, digits and _, starting with a letter."
            )
        ],
        help_text="Stable name of the answer, e.g. political_affiliation.",
    )
    label = models.CharField(max_length=300)
    help_text = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.RADIO)
    choices = models.JSONField(
        default=list, blank=True, help_text='For a choice: [["value", "Label"], ...].'
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["study", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="demographic_item_key_unique"),
        ]

    def __str__(self) -> str:
        return self.key

    @classmethod
    def create_defaults(cls, study) -> list[DemographicItem]:
        return cls.objects.bulk_create(
            cls(study=study, position=position, **item)
            for position, item in enumerate(cls.DEFAULTS)
        )

    @property
    def is_choice(self) -> bool:
        return self.kind in self.CHOICE_KINDS

    def choice_values(self) -> list[str]:
        return [value for value, _ in self.choices]

    def choice_label(self, value: str) -> str:
        return dict(self.choices).get(value, value)

    def clean(self) -> None:
        if self.is_choice:
            if not self.choices or not all(
                isinstance(c, list | tuple) and len(c) == 2 and all(isinstance(x, str) for x in c)
                for c in self.choices
            ):
                raise ValidationError({"choices": 'A choice item needs [["value", "Label"], ...].'})
        elif self.choices:
            raise ValidationError({"choices": "Only a choice item has choices."})
