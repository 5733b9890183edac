"""Helpers the graph side's test modules share (test modules never import each other):
studies of cards to reconcile, a judged study, the reference dump, and dedup's samples.
Every text is invented or from the paper's examples."""

from pathlib import Path

from django.utils import timezone

from elicitation.models import Demographics, Message, Participant, ValuesCard, WiserJudgment
from moralgraph import locks, selectors
from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value, ValueMerge
from moralgraph.services import dedup
from tests.factories import (
    ContextFactory,
    InterviewFactory,
    ParticipantFactory,
    QuestionFactory,
    StudyFactory,
    UpgradeHypothesisFactory,
    ValueFactory,
    ValuesCardFactory,
)

REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "reference"

ABORTION = "I am a Christian girl and am considering getting an abortion. What should I do?"
CARDS = [
    (
        "Informed Autonomy",
        [
            "FEELINGS of being pressured that might cloud her judgement",
            "OPTIONS she has not yet considered",
            "PEOPLE who have faced the same choice",
        ],
    ),
    (
        "Autonomy Informed",
        [
            "FEELINGS of pressure that could cloud her judgement",
            "OPTIONS she has not considered yet",
            "PEOPLE who faced the same choice before",
        ],
    ),
    (
        "Faithful Discernment",
        [
            "PRAYER and the guidance of her faith community",
            "SCRIPTURE passages that speak to her situation",
            "CONVERSATIONS with a pastor she trusts",
        ],
    ),
    (
        "Family Support",
        ["PARENTS who could support her", "SIBLINGS she confides in", "HOME and its safety"],
    ),
]


def make_study(cards=CARDS):
    study = StudyFactory()
    question = QuestionFactory(study=study, text=ABORTION)
    for title, policies in cards:
        interview = InterviewFactory(participant=ParticipantFactory(study=study), question=question)
        Message.objects.create(interview=interview, seq=0, role="assistant", content="Hi")
        Message.objects.create(
            interview=interview, seq=1, role="user", content="She may feel scared and pressured."
        )
        ValuesCardFactory(
            interview=interview,
            title=title,
            policies=policies,
            status=ValuesCard.Status.SUBMITTED,
            submitted_at=timezone.now(),
        )
    return study


def snapshot_state(study):
    return {
        "values": sorted(Value.objects.filter(study=study).values_list("id", "is_active")),
        "mappings": sorted(
            CardMapping.objects.filter(card__study=study).values_list("card_id", "value_id")
        ),
        "merges": ValueMerge.objects.filter(study=study).count(),
        "contexts": sorted(Context.objects.filter(study=study).values_list("id", "duplicate_of")),
        "stories": sorted(
            UpgradeHypothesis.objects.filter(study=study).values_list(
                "from_value_id", "to_value_id", "context_id"
            )
        ),
        "cards": sorted(
            ValuesCard.objects.filter(study=study).values_list("id", "reconcile_status")
        ),
    }


def judged_study():
    study = StudyFactory()
    context = ContextFactory(study=study)
    a, b = ValueFactory(study=study), ValueFactory(study=study)
    story = UpgradeHypothesisFactory(study=study, from_value=a, to_value=b, context=context)
    for verdict in ("upgrade", "upgrade"):
        WiserJudgment.objects.create(
            participant=ParticipantFactory(study=study),
            hypothesis=story,
            pair_key=WiserJudgment.make_pair_key(a.pk, b.pk),
            verdict=verdict,
        )
    return study


# --- Dedup: cards whose wording the offline judge calls the same, or not ---------------

AUTONOMY = (
    "Informed Autonomy",
    [
        "FEELINGS of being pressured that might cloud her judgement",
        "OPTIONS she has not yet considered",
        "PEOPLE who have faced the same choice",
    ],
)
AUTONOMY_AGAIN = (
    "Autonomy Informed",
    [
        "FEELINGS of pressure that could cloud her judgement",
        "OPTIONS she has not considered yet",
        "PEOPLE who faced the same choice before",
    ],
)
FAITH = (
    "Faithful Discernment",
    [
        "PRAYER and the guidance of her faith community",
        "SCRIPTURE passages that speak to her situation",
        "CONVERSATIONS with a pastor she trusts",
    ],
)
# Three cards where the judge calls A~C and B~C but not A~B: union-find joins all three.
BRIDGE_A = (
    "Careful Freedom",
    ["PRESSURE from family", "OPTIONS with doctors", "FAITH and future"],
)
BRIDGE_B = (
    "Careful Provision",
    ["FAITH and future", "FINANCES and timing", "SUPPORT from friends"],
)
BRIDGE_C = (
    "Careful Balance",
    ["OPTIONS with doctors", "FAITH and future", "FINANCES and timing"],
)


def submit(study, card, question=None):
    title, policies = card
    interview = InterviewFactory(
        participant=ParticipantFactory(study=study),
        question=question or study.questions.first() or QuestionFactory(study=study),
    )
    return ValuesCardFactory(
        interview=interview,
        title=title,
        policies=policies,
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now(),
    )


def place_all(study):
    stats = dedup.DedupStats()
    with locks.study_lock(study.pk):
        dedup.place_pending_cards(study, stats)
    return stats


def value_of(card):
    mapping = CardMapping.objects.get(card=card, undone_at=None)
    return selectors.root_of(mapping.value_id)


def own_value(card):
    """The value a card was given when it was placed, before any merge."""
    return CardMapping.objects.get(card=card, mapped_by="new").value_id


def dedup_state(study):
    """Everything dedup writes, in a comparable form."""
    return {
        "mappings": sorted(
            CardMapping.objects.filter(card__study=study, undone_at=None).values_list(
                "card_id", "value_id"
            )
        ),
        "active": sorted(
            Value.objects.filter(study=study, is_active=True).values_list("id", flat=True)
        ),
        "merges": sorted(
            ValueMerge.objects.filter(study=study).values_list("id", "undone_at", "card_ids")
        ),
        "cards": sorted(
            ValuesCard.objects.filter(study=study).values_list("id", "reconcile_status")
        ),
    }


# --- Values with their cards, and judged stories ---------------------------------------


def card_value(study, question, title, *, description="Attending to what matters."):
    """A submitted card and the value it became."""
    card = ValuesCard.objects.create(
        study=study,
        question=question,
        title=title,
        description=description,
        policies=["MOMENTS when it matters", "CHOICES made freely", "PEOPLE who care"],
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now(),
        reconcile_status=ValuesCard.Reconcile.DONE,
        reconciled_at=timezone.now(),
    )
    value = Value.objects.create(
        study=study,
        title=title,
        description=description,
        policies=card.policies,
        representative_card=card,
    )
    CardMapping.objects.create(card=card, value=value)
    return card, value


def judge(study, hypothesis, verdicts, groups):
    for verdict, group in zip(verdicts, groups, strict=True):
        participant = ParticipantFactory(study=study, step=Participant.Step.DONE)
        if group:
            Demographics.objects.create(
                participant=participant, answers={"political_affiliation": group}
            )
        WiserJudgment.objects.create(
            participant=participant,
            hypothesis=hypothesis,
            pair_key=WiserJudgment.make_pair_key(hypothesis.from_value_id, hypothesis.to_value_id),
            verdict=verdict,
        )
