"""Fixtures of the read API's tests: a researcher with a token, a client sending it, and a
small scored study (one question, one context, three values, judged by two groups)."""

import pytest
from django.test import Client

from elicitation.models import StudyMember
from moralgraph.models import Context, UpgradeHypothesis
from moralgraph.services import scoring, tokens
from tests import factories
from tests.moralgraph.support import card_value, judge

Role = StudyMember.Role


@pytest.fixture
def researcher(django_user_model):
    return django_user_model.objects.create_user("researcher")


@pytest.fixture
def secret(researcher):
    return tokens.create_token(user=researcher, name="notebook")[1]


@pytest.fixture
def api(secret):
    """A client that sends the researcher's token."""
    return Client(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def member():
    def give(user, study, role=Role.VIEWER):
        return StudyMember.objects.create(user=user, study=study, role=role)

    return give


@pytest.fixture
def scored(lenient_statuses):
    """The study, its question, context and values (A, B, C), scored: most people find B
    wiser than A (both groups), fewer C wiser than A (one group)."""
    study = factories.StudyFactory(slug="graph", title="Graph study")
    question = factories.QuestionFactory(study=study, key="q", title="The question")
    context = Context.objects.create(study=study, text="When someone is grieving")
    context.questions.add(question)
    _, a = card_value(study, question, "Plain Honesty")
    _, b = card_value(study, question, "Gentle Presence")
    _, c = card_value(study, question, "Quiet Company")
    ab = UpgradeHypothesis.objects.create(
        study=study, from_value=a, to_value=b, context=context, story="Being there mattered more."
    )
    ac = UpgradeHypothesis.objects.create(
        study=study, from_value=a, to_value=c, context=context, story="Silence helped more."
    )
    judge(
        study,
        ab,
        ["upgrade"] * 4 + ["no_upgrade"],
        ["democrat", "democrat", "republican", "republican", None],
    )
    judge(study, ac, ["upgrade"] * 3, ["democrat", "democrat", "democrat"])
    snapshot = scoring.score_study(study=study, mode="default")
    return study, question, context, (a, b, c), snapshot
