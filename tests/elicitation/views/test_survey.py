"""The survey and the done page."""

from unittest import mock

import pytest

from elicitation.models import (
    Participant,
    Study,
    SurveyAnswer,
    ValuesCard,
)
from moralgraph.models import CardMapping, Value
from tests.helpers import (
    XSS,
    card_data,
    fresh,
    make_study,
    to_card,
    to_survey,
    url,
)

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_the_survey_has_the_papers_five_items_and_a_comment(client, graph_study):
    to_survey(client, graph_study)
    html = client.get(url(graph_study, "survey")).content.decode()
    for item in [
        "Did the values you submitted and voted for express what you care about?",
        "Did it help you clarify what was important to you?",
        "Did you learn something about other people&#x27;s values?",
        "Based on what you saw of others&#x27; values, did you gain respect for the other "
        "participants?",
        "Would you trust this process",
    ]:
        assert item in html
    assert html.count('type="radio"') == 25


def test_who_saw_no_other_values_is_not_asked_about_them(client):
    study = make_study(selection_enabled=False, judgments_enabled=False)
    participant = to_card(client, study)
    with mock.patch("elicitation.queue.enqueue"):
        assert client.post(url(study, "card"), card_data("submit"))["Location"] == url(
            study, "survey"
        )
    html = client.get(url(study, "survey")).content.decode()
    assert "learn something" not in html and "gain respect" not in html
    assert html.count('type="radio"') == 15
    client.post(url(study, "survey"), {"represented": "5", "learned": "5", "respect": "4"})
    answer = SurveyAnswer.objects.get(participant=participant)
    assert (answer.represented, answer.learned, answer.respect) == (5, None, None)


def test_the_survey_rejects_off_scale_answers(client, graph_study):
    to_survey(client, graph_study)
    response = client.post(url(graph_study, "survey"), {"represented": "9"})
    assert response.status_code == 400
    assert not SurveyAnswer.objects.exists()


def test_the_survey_then_done_with_code_card_and_redirect(client, graph_study):
    participant = to_survey(client, graph_study)
    response = client.post(
        url(graph_study, "survey"),
        {"represented": "4", "learned": "5", "respect": "2", "comment": XSS},
    )
    assert response["Location"] == url(graph_study, "done")
    answer = SurveyAnswer.objects.get(participant=participant)
    assert (answer.represented, answer.learned, answer.respect) == (4, 5, 2)
    assert answer.study == graph_study and answer.source == SurveyAnswer.Source.JOURNEY
    html = client.get(url(graph_study, "done")).content.decode()
    # The participant's own completion code, not the study's.
    code = fresh(participant).completion_code
    assert len(code) == 10 and code != "C0DE"
    assert f'id="completion-code">{code}<' in html and "C0DE" not in html
    assert "Patient Listening" in html
    assert f'content="10;url=https://example.org/done?cc={code}"' in html
    # The refresh sits in <head>, once: the page's script then leaves it to the browser
    # rather than start a second navigation that would abort the first.
    head, body = html.split("</head>", 1)
    assert "http-equiv" in head and "http-equiv" not in body
    partial = client.get(url(graph_study, "done"), headers={"HX-Request": "true"})
    assert f'data-redirect-url="https://example.org/done?cc={code}"' in partial.content.decode()
    assert fresh(participant).completed_at is not None
    # Done is done: every other step leads back here.
    assert client.get(url(graph_study, "survey"))["Location"] == url(graph_study, "done")
    assert client.get(url(graph_study))["Location"] == url(graph_study, "done")


def test_the_done_page_survives_the_study_closing(client, graph_study):
    to_survey(client, graph_study)
    client.post(url(graph_study, "survey"), {})
    graph_study.status = Study.Status.CLOSED
    graph_study.save(update_fields=["status"])
    assert client.get(url(graph_study, "done")).status_code == 200
    assert client.get(url(graph_study))["Location"] == url(graph_study, "done")


def test_done_without_a_completion_url_says_to_copy_the_code(client):
    study = make_study(selection_enabled=False, judgments_enabled=False, survey_enabled=False)
    to_card(client, study)
    with mock.patch("elicitation.queue.enqueue"):
        assert client.post(url(study, "card"), card_data("submit"))["Location"] == url(
            study, "done"
        )
    html = client.get(url(study, "done")).content.decode()
    assert "Copy this code" in html and "http-equiv" not in html


def test_a_participant_with_a_value_sees_where_it_sits(client):
    from moralgraph.models import GraphSnapshot

    study = make_study(selection_enabled=False, judgments_enabled=False, survey_enabled=False)
    participant = to_card(client, study)
    client.post(url(study, "card"), card_data("submit"))
    card = ValuesCard.objects.get(participant=participant)
    mine = Value.objects.create(study=study, title="Mine", description="d", policies=[])
    CardMapping.objects.create(card=card, value=mine)
    wiser = Value.objects.create(study=study, title="Wiser <i>one</i>", description="d")
    GraphSnapshot.objects.create(
        study=study,
        input_hash="x",
        results={
            "contexts": [
                {
                    "context_id": "1",
                    "edges": [{"from_id": str(mine.pk), "to_id": str(wiser.pk), "kept": True}],
                }
            ]
        },
    )
    html = client.get(url(study, "done")).content.decode()
    assert "Where your value sits" in html
    assert "Wiser &lt;i&gt;one&lt;/i&gt;" in html
