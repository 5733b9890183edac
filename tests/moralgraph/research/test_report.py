"""The report: one selector's JSON shape, the page (legitimacy with intervals, each
context's leader with its status, bridging, agreement), "no answers yet" where n is 0,
and staff only."""

import json

import pytest

from elicitation.models import SurveyAnswer
from moralgraph.models import UpgradeHypothesis
from moralgraph.research.report import report
from moralgraph.services import scoring
from tests import factories
from tests.moralgraph.support import judge

pytestmark = pytest.mark.django_db

KEYS = ["represented", "clarified", "learned", "respect", "trust", "fair"]


def _scored(graph_study):
    study, question, context, values = graph_study
    scoring.score_study(study=study)
    return study, question, context, values


def test_the_json_shape_and_types(graph_study, study):
    graph, question, context, (a, b, c) = _scored(graph_study)
    data = report(graph)
    json.dumps(data)  # plain JSON throughout
    assert data["study"] == "graph"
    assert list(data["legitimacy"]) == KEYS
    for share in data["legitimacy"].values():
        assert set(share) >= {"yes", "n", "share", "low", "high"}
    assert set(data["cross_group_agreement"]) == {"edges", "agree", "share"}
    assert isinstance(data["cross_group_agreement"]["edges"], int)
    [row] = data["contexts"]
    assert row["question_key"] == "q"
    assert row["context"] == "When someone is grieving"
    assert row["status"] in {"confident", "contested", "insufficient"}
    assert set(row["winner"]) == {"id", "external_id", "title"}
    assert isinstance(row["winner"]["id"], str)
    assert row["winner"]["id"] in {str(b.pk), str(c.pk)}
    assert 0 <= row["winner_probability"] <= 1
    assert row["bridging"] in {"bridges", "divides", "unknown"}
    assert isinstance(row["reason"], str)
    assert isinstance(row["needed"], str)
    # A few votes only: the leader is shown but is not a winner to train on.
    assert row["status"] != "confident"
    assert row["needed"]
    # Legitimacy counts this study's answers (the live study's are elsewhere).
    live = report(study)["legitimacy"]
    assert (live["represented"]["yes"], live["represented"]["n"]) == (2, 2)
    assert 0 < live["trust"]["low"] < 0.5 < live["trust"]["high"] <= 1


def test_n_zero_gives_nulls_and_no_context_before_scoring():
    study = factories.StudyFactory(slug="blank")
    data = report(study)
    assert data["snapshot"] is None
    assert data["contexts"] == []
    assert data["cross_group_agreement"] == {"edges": 0, "agree": 0, "share": None}
    for share in data["legitimacy"].values():
        assert share == {"yes": 0, "n": 0, "share": None, "low": None, "high": None}


def test_a_confident_context_shows_its_winner(graph_study):
    study, question, context, (a, b, c) = graph_study

    ab = UpgradeHypothesis.objects.get(study=study, from_value=a, to_value=b)
    bc = UpgradeHypothesis.objects.create(study=study, from_value=c, to_value=b, context=context)
    groups = ["democrat", "republican"] * 15
    judge(study, ab, ["upgrade"] * 30, groups)
    judge(study, bc, ["upgrade"] * 30, groups)
    scoring.score_study(study=study)
    [row] = report(study)["contexts"]
    assert row["status"] == "confident", row
    assert row["winner"] == {"id": str(b.pk), "external_id": "", "title": "Gentle Presence"}
    assert row["winner_probability"] >= 0.8


def test_the_page_shows_statuses_intervals_and_agreement(staff, graph_study):
    _scored(graph_study)
    SurveyAnswer.objects.create(study=graph_study[0], import_key="k", represented=5)
    page = staff.get("/research/graph/report/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'aria-current="page">Report<' in html
    assert "When someone is grieving" in html
    # The leader (a few votes each: B at 4-1 or C at 3-0), its title escaped.
    assert "Gentle Presence" in html or "&lt;script&gt;alert" in html
    assert "insufficient" in html or "contested" in html
    assert "<svg" in html and 'class="report-interval"' in html
    assert "1 of n = 1" in html
    assert 'id="report-agreement"' in html
    # Escaped, never run; and no inline style or script under the CSP.
    assert "<script>alert" not in html
    assert "style=" not in html.split("<main", 1)[-1]
    assert "<script>" not in html.split("<main", 1)[-1]


def test_n_zero_says_no_answers_yet_and_quotes_no_paper(staff):
    factories.StudyFactory(slug="empty", title="No answers")
    html = staff.get("/research/empty/report/").content.decode()
    block = html[html.index('id="report-legitimacy"') :]
    block = block[: block.index("</section>")]
    assert block.count(">no answers yet<") == 6
    for paper in ("89", "71%", "75%", "paper"):
        assert paper not in block
    assert "No scored contexts yet" in html


def test_anonymous_visitors_are_sent_to_the_login_and_non_members_see_nothing(
    client, django_user_model
):
    factories.StudyFactory(slug="private")
    response = client.get("/research/private/report/")
    assert response.status_code == 302
    assert "login" in response["Location"]
    client.force_login(django_user_model.objects.create_user("someone", is_staff=True))
    assert client.get("/research/private/report/").status_code == 404
