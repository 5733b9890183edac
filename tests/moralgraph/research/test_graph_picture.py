"""The graph picture: the page's embedded data is the latest default snapshot, node for
value and edge for kept edge; the side panel tells of one value or one edge."""

import json
import re

import pytest
from django.utils import timezone

from elicitation.models import ValuesCard
from moralgraph.models import CardMapping, GraphSnapshot, UpgradeHypothesis, Value, ValueMerge
from moralgraph.research.picture import edge_key
from moralgraph.services import scoring
from tests import factories
from tests.moralgraph.support import card_value, judge

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
URL = "/research/graph/graph/"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _embedded(response) -> dict:
    """The JSON the page embeds for the browser, read back from the HTML itself."""
    found = re.search(
        r'<script id="graph-picture-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert found, "the page embeds no data"
    return json.loads(found.group(1))


def test_it_sends_anonymous_visitors_to_the_login(client, graph_study):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_shows_non_members_nothing(client, graph_study, django_user_model):
    client.force_login(django_user_model.objects.create_user("someone", is_staff=True))
    assert client.get(URL).status_code == 404


def test_its_first_address_redirects_to_it(staff, graph_study):
    response = staff.get("/research/graph/graph/picture/?value=3")
    assert response.status_code == 302 and response["Location"] == URL + "?value=3"


def test_it_rejects_post(staff, graph_study):
    assert staff.post(URL).status_code == 405


def test_without_a_snapshot_it_says_so_and_draws_nothing(staff, graph_study):
    response = staff.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "No snapshot yet" in page
    assert "graph-picture-data" not in page


def test_the_embedded_data_is_the_latest_default_snapshot(staff, graph_study):
    study, question, context, (a, b, c) = graph_study
    scoring.score_study(study=study, mode="compat")  # never drawn by default
    snapshot = scoring.score_study(study=study)
    assert GraphSnapshot.latest_for(study) == snapshot
    response = staff.get(URL)
    assert response.status_code == 200
    data = _embedded(response)
    graph = snapshot.payload
    [scored] = graph.contexts

    assert data["snapshot"] == snapshot.pk
    assert data["questions"] == [{"id": question.pk, "title": question.title}]
    assert data["contexts"] == [
        {
            "id": str(context.pk),
            "text": "When someone is grieving",
            "questions": [question.pk],
            "winner": scored.winner.value_id,
        }
    ]
    # Nodes: every ranked value, its title, its cards, and its PageRank per context.
    nodes = {v["id"]: v for v in data["values"]}
    assert set(nodes) == {r.value_id for r in scored.ranks} == {str(v.pk) for v in (a, b, c)}
    for rank in scored.ranks:
        node = nodes[rank.value_id]
        assert node["strength"] == {str(context.pk): rank.score}
        assert node["title"] == Value.objects.get(pk=rank.value_id).title
        assert node["cards"] == 1
    # Edges: exactly the kept edges, with their agreement, votes and bridging.
    edges = {(e["source"], e["target"]): e for e in data["edges"]}
    assert set(edges) == {(e.from_id, e.to_id) for e in scored.kept_edges}
    ab = edges[(str(a.pk), str(b.pk))]
    assert ab["id"] == edge_key(str(context.pk), str(a.pk), str(b.pk))
    assert ab["context"] == str(context.pk)
    assert ab["share"] == 0.8 and ab["decisive"] == 5
    assert ab["bridging"] == "bridged"
    assert ab["groups"] == {"democrat": [2, 1.0], "republican": [2, 1.0]}
    ac = edges[(str(a.pk), str(c.pk))]
    assert ac["bridging"] == "carried" and ac["carried_by"] == ["democrat"]
    assert data["groups"] == ["democrat", "republican"]


def test_the_data_follows_a_new_snapshot(staff, graph_study):
    study, question, context, (a, b, c) = graph_study
    scoring.score_study(study=study)
    _, d = card_value(study, question, "Quiet Company")
    story = UpgradeHypothesis.objects.create(
        study=study, from_value=b, to_value=d, context=context, story="Later I just sat with her."
    )
    judge(study, story, ["upgrade"] * 3, ["democrat", "republican", "republican"])
    newer = scoring.score_study(study=study)
    data = _embedded(staff.get(URL))
    assert data["snapshot"] == newer.pk
    assert str(d.pk) in {v["id"] for v in data["values"]}
    assert (str(b.pk), str(d.pk)) in {(e["source"], e["target"]) for e in data["edges"]}


def test_titles_are_escaped_in_the_embedded_json(staff, graph_study):
    study, *_ = graph_study
    scoring.score_study(study=study)
    response = staff.get(URL)
    page = response.content.decode()
    assert XSS not in page
    assert XSS in {v["title"] for v in _embedded(response)["values"]}


def test_the_two_graph_pages_link_to_each_other(staff, graph_study):
    study, *_ = graph_study
    snapshot = scoring.score_study(study=study)
    review = staff.get("/research/graph/review/").content.decode()
    assert f'href="{URL}"' in review
    picture = staff.get(URL).content.decode()
    assert f'href="/research/graph/review/?snapshot={snapshot.pk}"' in picture
    assert 'href="/research/graph/review/"' in picture  # the tab
    assert "vendor/cytoscape/cytoscape.min.js" in picture


def _merge_into(value, study, question, title):
    """A second card, once its own value, merged into ``value``."""
    card, other = card_value(study, question, title, description="Being there, quietly.")
    merge = ValueMerge.objects.create(
        study=study, into_value=value, from_value=other, card_ids=[card.pk]
    )
    CardMapping.objects.filter(card=card).update(undone_at=timezone.now())
    CardMapping.objects.create(card=card, value=value, merge=merge, mapped_by="llm")
    Value.objects.filter(pk=other.pk).update(is_active=False)
    return card, other


def test_a_value_panel_has_its_card_merged_cards_contexts_and_stories(staff, graph_study):
    study, question, context, (a, b, c) = graph_study
    card, _ = _merge_into(b, study, question, "Staying Near")
    snapshot = scoring.score_study(study=study)
    query = f"{URL}?snapshot={snapshot.pk}&value={b.pk}"
    response = staff.get(query, headers=HTMX)
    assert response.status_code == 200
    text = response.content.decode()
    assert text.lstrip().startswith('<div id="picture-detail">') and "<html" not in text
    detail = staff.get(query).context["detail"]  # the same panel, in the whole page
    assert detail.value == b
    assert detail.card == b.representative_card
    assert detail.merged == [card]
    [standing] = detail.standings
    assert standing.text == "When someone is grieving" and standing.ranked == 3
    assert standing.rank == snapshot.payload.contexts[0].rank_of(str(b.pk))
    [story] = detail.stories
    assert story.story.from_value == a and story.upgrades == 4 and story.not_upgrades == 1
    assert story.outgoing is False
    assert "Gentle Presence" in text and "Staying Near" in text
    assert "I used to just say the facts" in text


def test_an_edge_panel_has_votes_per_group_and_its_stories(staff, graph_study):
    study, question, context, (a, b, c) = graph_study
    other_way = UpgradeHypothesis.objects.create(
        study=study, from_value=b, to_value=a, context=context, story="Told the other way."
    )
    snapshot = scoring.score_study(study=study)
    key = edge_key(str(context.pk), str(a.pk), str(b.pk))
    query = f"{URL}?snapshot={snapshot.pk}&edge={key}"
    response = staff.get(query, headers=HTMX)
    assert response.status_code == 200
    detail = staff.get(query).context["detail"]
    assert (detail.less_wise, detail.wiser) == (a, b)
    assert detail.groups == [
        {"group": "democrat", "decisive": 2, "share": 1.0, "wiser": 2},
        {"group": "republican", "decisive": 2, "share": 1.0, "wiser": 2},
    ]
    stories = {row.story: row for row in detail.stories}
    assert set(stories) == {UpgradeHypothesis.objects.get(from_value=a, to_value=b), other_way}
    shown = stories[UpgradeHypothesis.objects.get(from_value=a, to_value=b)]
    assert shown.strongest and shown.outgoing and shown.upgrades == 4
    assert not stories[other_way].strongest and not stories[other_way].outgoing
    text = response.content.decode()
    assert "shown to participants" in text and "Told the other way round" in text


def test_a_panel_link_works_without_javascript(staff, graph_study):
    study, question, context, (a, b, c) = graph_study
    scoring.score_study(study=study)
    response = staff.get(f"{URL}?value={a.pk}")
    page = response.content.decode()
    assert "<html" in page and "graph-picture-data" in page
    assert response.context["detail"].value == a


@pytest.mark.parametrize("query", ["value=99999", "value=abc", "edge=1:2", "edge=9:9:9"])
def test_an_unknown_value_or_edge_is_404(staff, graph_study, query):
    study, *_ = graph_study
    scoring.score_study(study=study)
    assert staff.get(f"{URL}?{query}", headers=HTMX).status_code == 404


def test_another_studys_snapshot_or_value_is_404(staff, graph_study):
    study, *_ = graph_study
    scoring.score_study(study=study)
    other = factories.StudyFactory(slug="other")
    question = factories.QuestionFactory(study=other)
    _, stranger = card_value(other, question, "Stranger Value")
    theirs = GraphSnapshot.objects.create(study=other, input_hash="x", results={})
    assert staff.get(f"{URL}?snapshot={theirs.pk}").status_code == 404
    assert staff.get(f"{URL}?value={stranger.pk}", headers=HTMX).status_code == 404
    assert ValuesCard.objects.filter(study=other).count() == 1


def test_a_compat_snapshot_asked_for_draws_as_one_pooled_context(staff, graph_study):
    study, question, context, (a, b, c) = graph_study
    compat = scoring.score_study(study=study, mode="compat")
    data = _embedded(staff.get(f"{URL}?snapshot={compat.pk}"))
    [pooled] = data["contexts"]
    assert pooled["id"] == "pooled" and data["pooled"] and data["questions"] == []
    assert pooled["winner"] == compat.payload.contexts[0].winner.value_id
    assert {(e["source"], e["target"]) for e in data["edges"]} == {
        (e.from_id, e.to_id) for e in compat.payload.contexts[0].kept_edges
    }
