"""Fixtures of the researchers' pages: a researcher's client (owner of the test's
studies), a live study with participants at every step, and a judged graph of three
values."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models.signals import post_save
from django.utils import timezone

from elicitation.models import (
    ConsentDecline,
    LLMCall,
    Participant,
    Study,
    StudyMember,
    SurveyAnswer,
)
from moralgraph.models import Context, UpgradeHypothesis
from tests import factories
from tests.moralgraph.support import card_value, judge

Step = Participant.Step
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def own_every_study(user, role=StudyMember.Role.OWNER):
    """Give ``user`` ``role`` on every study, those made before and those made later in
    the test (fixtures and tests create studies in any order)."""

    def join(sender, instance, created, **kwargs):
        if created:
            StudyMember.objects.get_or_create(study=instance, user=user, defaults={"role": role})

    for study in Study.objects.all():
        StudyMember.objects.get_or_create(study=study, user=user, defaults={"role": role})
    uid = f"own-every-study-{user.pk}"
    post_save.connect(join, sender=Study, weak=False, dispatch_uid=uid)
    return lambda: post_save.disconnect(sender=Study, dispatch_uid=uid)


@pytest.fixture
def staff(client, django_user_model):
    """A researcher (staff, as before roles) who owns every study of the test."""
    user = django_user_model.objects.create_user("researcher", is_staff=True)
    stop = own_every_study(user)
    client.force_login(user)
    yield client
    stop()


@pytest.fixture
def study():
    """Four participants (two finished, in 20 and 24 minutes), two declines, answers to
    the survey, and LLM calls."""
    study = factories.StudyFactory(slug="live", title="Live study", estimated_minutes=15)
    q1 = factories.QuestionFactory(study=study, key="q1", title="First question", position=0)
    q2 = factories.QuestionFactory(study=study, key="q2", title="Second question", position=1)
    start = timezone.now() - timedelta(hours=2)

    def participant(step, question, minutes=None):
        p = factories.ParticipantFactory(
            study=study, step=step, question=question, consented_at=start
        )
        if minutes is not None:
            p.completed_at = start + timedelta(minutes=minutes)
            p.save()
        return p

    done_1 = participant(Step.DONE, q1, 20)
    done_2 = participant(Step.DONE, q2, 24)
    participant(Step.INTERVIEW, q1)
    participant(Step.SURVEY, q1)
    ConsentDecline.objects.create(study=study)
    ConsentDecline.objects.create(study=study)
    SurveyAnswer.objects.create(participant=done_1, represented=5, clarified=3, learned=4, trust=2)
    SurveyAnswer.objects.create(
        participant=done_2, represented=4, clarified=4, trust=5, fair_position=4
    )
    for cost, tokens in ((Decimal("0.010000"), 100), (Decimal("0.020000"), 200)):
        LLMCall.objects.create(
            study=study,
            stage="interview",
            model="m",
            input_tokens=tokens,
            output_tokens=tokens // 2,
            cost=cost,
            latency_ms=300,
        )
    LLMCall.objects.create(study=study, stage="dedup", model="m", cost=Decimal("0.5"), error="boom")
    LLMCall.objects.create(study=None, stage="dedup", model="m", cost=Decimal("9"))  # not ours
    return study


@pytest.fixture
def graph_study():
    """One question, one context, three values: most people find B wiser than A (both
    parties) and C wiser than A (one party only)."""
    study = factories.StudyFactory(slug="graph", title="Graph study")
    question = factories.QuestionFactory(study=study, key="q", title="The question")
    context = Context.objects.create(study=study, text="When someone is grieving")
    context.questions.add(question)
    _, a = card_value(study, question, "Plain Honesty")
    _, b = card_value(study, question, "Gentle Presence")
    _, c = card_value(study, question, XSS)
    ab = UpgradeHypothesis.objects.create(
        study=study,
        from_value=a,
        to_value=b,
        context=context,
        story="I used to just say the facts; then I saw that being there mattered more.",
    )
    ac = UpgradeHypothesis.objects.create(
        study=study,
        from_value=a,
        to_value=c,
        context=context,
        story="A story <em>with markup</em>.",
    )
    judge(
        study,
        ab,
        ["upgrade"] * 4 + ["no_upgrade"],
        ["democrat", "democrat", "republican", "republican", None],
    )
    judge(study, ac, ["upgrade"] * 3, ["democrat", "democrat", "democrat"])
    return study, question, context, (a, b, c)
