"""The selection page."""

import pytest

from elicitation.models import (
    Impression,
    Participant,
    Selection,
    Study,
)
from tests import factories
from tests.helpers import (
    to_selection,
    url,
)

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_selection_shows_other_values_as_text(client, graph_study):
    to_selection(client, graph_study)
    html = client.get(url(graph_study, "selection")).content.decode()
    assert html.count('name="values"') == 3
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_selection_is_recorded(client, graph_study):
    participant = to_selection(client, graph_study)
    shown = list(
        Impression.objects.filter(participant=participant).values_list("value_id", flat=True)
    )
    response = client.post(url(graph_study, "selection"), {"values": shown[:2]})
    assert response["Location"] == url(graph_study, "judgments")
    assert set(Selection.objects.values_list("value_id", flat=True)) == set(shown[:2])


def test_selecting_a_value_that_was_not_shown_is_a_404(client, graph_study):
    to_selection(client, graph_study)
    stranger = factories.ValueFactory(study=graph_study)
    response = client.post(url(graph_study, "selection"), {"values": [stranger.pk]})
    assert response.status_code == 404
    assert not Selection.objects.exists()


def test_selection_asks_for_the_minimum_inline(client, graph_study):
    Study.objects.filter(pk=graph_study.pk).update(min_selections=2)
    to_selection(client, graph_study)
    response = client.post(url(graph_study, "selection"), {})
    assert response.status_code == 400
    assert b"Please choose at least 2." in response.content
