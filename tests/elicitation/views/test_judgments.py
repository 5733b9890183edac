"""The judgments page: one story at a time."""

from unittest import mock

import pytest

from elicitation.models import (
    JudgmentAssignment,
    Participant,
    WiserJudgment,
)
from tests import factories
from tests.helpers import (
    to_judgments,
    url,
)

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_the_judgment_page_shows_one_story_with_both_values(client, graph_study):
    participant = to_judgments(client, graph_study)
    first = JudgmentAssignment.objects.filter(participant=participant).order_by("position")[0]
    html = client.get(url(graph_study, "judgments")).content.decode()
    assert "Story 1 of 2" in html
    assert first.hypothesis.story in html
    assert "Did this person become wiser" in html
    assert "<script>alert" not in html


def test_judgments_are_recorded_one_by_one_then_the_survey(client, graph_study):
    participant = to_judgments(client, graph_study)
    drawn = list(
        JudgmentAssignment.objects.filter(participant=participant)
        .order_by("position")
        .values_list("hypothesis_id", flat=True)
    )
    with mock.patch("elicitation.queue.enqueue"):
        first = client.post(
            url(graph_study, "judgments"),
            {"hypothesis": drawn[0], "verdict": "upgrade", "reason": "Kept it and added more."},
        )
        double = client.post(
            url(graph_study, "judgments"), {"hypothesis": drawn[0], "verdict": "no_upgrade"}
        )
        last = client.post(
            url(graph_study, "judgments"), {"hypothesis": drawn[1], "verdict": "not_sure"}
        )
    assert first["Location"] == url(graph_study, "judgments")
    # A resent judgment is stored once and the participant stays on their current story.
    assert double.status_code == 302
    assert double["Location"] == url(graph_study, "judgments")
    assert last["Location"] == url(graph_study, "survey")
    assert list(WiserJudgment.objects.order_by("id").values_list("verdict", flat=True)) == [
        "upgrade",
        "not_sure",
    ]


def test_judging_a_story_not_drawn_for_you_is_a_404(client, graph_study):
    participant = to_judgments(client, graph_study)
    drawn = set(
        JudgmentAssignment.objects.filter(participant=participant).values_list(
            "hypothesis_id", flat=True
        )
    )
    other = factories.UpgradeHypothesisFactory(study=graph_study)
    assert other.pk not in drawn
    response = client.post(
        url(graph_study, "judgments"), {"hypothesis": other.pk, "verdict": "upgrade"}
    )
    assert response.status_code == 404
    assert not WiserJudgment.objects.exists()


def test_a_judgment_without_a_verdict_is_an_inline_error(client, graph_study):
    participant = to_judgments(client, graph_study)
    first = JudgmentAssignment.objects.filter(participant=participant).order_by("position")[0]
    response = client.post(url(graph_study, "judgments"), {"hypothesis": first.hypothesis_id})
    assert response.status_code == 400
    assert b"Please choose Yes, No or Not sure." in response.content
