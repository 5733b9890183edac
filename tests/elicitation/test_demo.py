"""The demo study: loads twice to the same rows, and gives every step something to show."""

import pytest

from elicitation import selectors
from elicitation.demo import DEMO_STORIES, DEMO_VALUES, load_demo_study
from elicitation.models import Participant, ValuesCard
from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value
from moralgraph.services import draws
from tests.helpers import advance_to, start

pytestmark = pytest.mark.django_db


def _counts():
    return (
        Value.objects.count(),
        ValuesCard.objects.count(),
        CardMapping.objects.count(),
        Context.objects.count(),
        UpgradeHypothesis.objects.count(),
    )


def test_loading_the_demo_twice_gives_the_same_rows():
    load_demo_study()
    first = _counts()
    load_demo_study()
    assert _counts() == first
    assert first[0] == sum(len(items) for items in DEMO_VALUES.values())
    assert first[4] == len(DEMO_STORIES)


def test_every_demo_question_has_values_to_select_and_stories_to_judge(settings):
    settings.OFFLINE_STREAM_DELAY_MS = 0
    study = load_demo_study()
    for question in study.questions.all():
        assert draws.question_values(question).count() >= 4
    participant = advance_to(start(study), Participant.Step.SELECTION)
    assert len(selectors.shown_values(participant)) >= 4
    participant = advance_to(participant, Participant.Step.JUDGMENTS)
    assert len(selectors.open_assignments(participant)) == study.judgment_count


def test_demo_cards_are_left_alone_by_reconciliation():
    load_demo_study()
    assert not ValuesCard.objects.filter(reconcile_status=ValuesCard.Reconcile.PENDING).exists()
    assert not ValuesCard.objects.filter(embedded_at=None).exists()


def test_the_demo_study_is_live_and_listed_on_the_home_page(client):
    study = load_demo_study()
    assert (study.status, study.is_public) == ("live", True)
    type(study).objects.filter(pk=study.pk).update(is_public=False)
    assert load_demo_study().is_public
    assert study.title in client.get("/").content.decode()
