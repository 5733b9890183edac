"""The graph picture in headless Chromium, against uvicorn: the canvas draws one node per
value of the latest snapshot, the filters change what it draws, and tapping a node or an
edge opens its details. Screenshots go to test-artifacts/screenshots/picture-*.png."""

import pytest

from elicitation.models import Question, StudyMember
from moralgraph.models import Context, UpgradeHypothesis
from moralgraph.services import scoring
from tests import factories
from tests.moralgraph.support import card_value, judge

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "a long test password"
READY = "#graph-picture[data-ready=true]"

VALUES = [
    "Plain Honesty",
    "Gentle Presence",
    "Quiet Company",
    "Practical Help",
    "Informed Choice",
    "Shared Wonder",
    "Steady Reassurance",
]
# (from, to, context, verdicts, groups): stories told and judged.
STORIES = [
    (0, 1, 0, "UUUUN", ["democrat", "democrat", "republican", "republican", None]),
    (0, 2, 0, "UUU", ["democrat", "democrat", "democrat"]),
    (3, 1, 0, "UUUN", ["republican", "republican", "democrat", "democrat"]),
    (0, 4, 1, "UUUUU", ["democrat", "republican", "democrat", "republican", "democrat"]),
    (3, 4, 1, "UUN", ["republican", "republican", "democrat"]),
    (5, 6, 2, "UUUU", ["democrat", "republican", "republican", "democrat"]),
    (2, 6, 2, "UUUUUU", ["democrat"] * 3 + ["republican"] * 3),
]
VERDICT = {"U": "upgrade", "N": "no_upgrade"}


@pytest.fixture
def picture_study(transactional_db):
    study = factories.StudyFactory(slug="picture", title="Picture study")
    q1 = factories.QuestionFactory(study=study, key="grief", title="Grief", position=0)
    q2 = factories.QuestionFactory(study=study, key="fear", title="Fear", position=1)
    contexts = []
    for text, question in (
        ("When someone is grieving", q1),
        ("When a friend asks what to do", q1),
        ("When a child is scared at night", q2),
    ):
        context = Context.objects.create(study=study, text=text)
        context.questions.add(question)
        contexts.append(context)
    values = [
        card_value(study, q1 if i < 5 else q2, title, description=f"What {title} attends to.")[1]
        for i, title in enumerate(VALUES)
    ]
    for a, b, c, verdicts, groups in STORIES:
        story = UpgradeHypothesis.objects.create(
            study=study,
            from_value=values[a],
            to_value=values[b],
            context=contexts[c],
            story=f"I used to think {VALUES[a]} was enough; then {VALUES[b]} mattered more.",
        )
        judge(study, story, [VERDICT[v] for v in verdicts], groups)
    snapshot = scoring.score_study(study=study)
    return study, snapshot, contexts, values


@pytest.fixture
def researcher(django_user_model, picture_study):
    user = django_user_model.objects.create_user("researcher", password=PASSWORD)
    StudyMember.objects.create(study=picture_study[0], user=user, role=StudyMember.Role.VIEWER)
    return user


def _login(page, base: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}{path}")


def _drawn(page) -> tuple[set[str], set[str]]:
    page.wait_for_selector(READY, state="attached")
    nodes = page.evaluate("graphPicture.cy.nodes().map(n => n.id())")
    edges = page.evaluate("graphPicture.cy.edges().map(e => e.id())")
    return set(nodes), set(edges)


def _click(page, selector_js: str, point: str) -> None:
    """Click an element of the canvas where Cytoscape draws it."""
    box = page.locator("#graph-picture").bounding_box()
    at = page.evaluate(f"(() => {{ const p = {selector_js}.{point}(); return [p.x, p.y]; }})()")
    page.mouse.click(box["x"] + at[0], box["y"] + at[1])


def test_the_picture_draws_filters_and_explains(
    uvicorn_server, browser, screenshots, picture_study, researcher
):
    study, snapshot, contexts, values = picture_study
    base = uvicorn_server.url
    path = f"/research/{study.slug}/graph/"
    page = browser.new_page(viewport=DESKTOP)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _login(page, base, path)

    # Every ranked value is a node, every kept edge an edge: as the page's data says,
    # and as the snapshot says.
    data = page.evaluate("JSON.parse(document.getElementById('graph-picture-data').textContent)")
    nodes, edges = _drawn(page)
    ranked = {r.value_id for c in snapshot.payload.contexts for r in c.ranks}
    kept = {
        f"{c.context_id}:{e.from_id}:{e.to_id}"
        for c in snapshot.payload.contexts
        for e in c.kept_edges
    }
    assert nodes == {v["id"] for v in data["values"]} == ranked
    assert edges == {e["id"] for e in data["edges"]} == kept
    assert len(nodes) == len(VALUES)
    assert page.locator("#picture-count").inner_text().startswith(f"{len(VALUES)} of {len(VALUES)}")
    screenshots(page, "picture-desktop")

    # A context: only the values ranked there.
    scared = str(contexts[2].pk)
    page.select_option("#filter-context", scared)
    nodes, edges = _drawn(page)
    assert nodes == {v["id"] for v in data["values"] if scared in v["strength"]}
    assert nodes == {str(values[2].pk), str(values[5].pk), str(values[6].pk)}
    assert all(e.startswith(f"{scared}:") for e in edges) and edges

    # A question keeps its contexts (and its context list); the other question's go.
    page.click("button[type=reset]")
    page.select_option("#filter-question", str(Question.objects.get(study=study, key="grief").pk))
    nodes, edges = _drawn(page)
    assert nodes == {str(v.pk) for v in values[:5]}
    assert page.locator(f"#filter-context option[value='{scared}']").is_disabled()

    # A minimum of votes drops the thinner edges and the values they alone held.
    page.click("button[type=reset]")
    page.fill("#filter-min-votes", "5")
    nodes, edges = _drawn(page)
    assert edges == {e["id"] for e in data["edges"] if e["decisive"] >= 5}
    assert nodes == {
        end for e in data["edges"] if e["decisive"] >= 5 for end in (e["source"], e["target"])
    }
    assert len(nodes) < len(VALUES)

    # A group: its own votes only.
    page.click("button[type=reset]")
    page.select_option("#filter-group", "republican")
    nodes, edges = _drawn(page)
    theirs = [e for e in data["edges"] if e["groups"].get("republican", [0])[0] > 0]
    assert edges == {e["id"] for e in theirs}
    assert nodes == {end for e in theirs for end in (e["source"], e["target"])}

    # Tapping a value opens its card, contexts and stories; tapping an edge, its votes.
    page.click("button[type=reset]")
    _drawn(page)
    gentle = str(values[1].pk)
    _click(page, f"graphPicture.cy.getElementById('{gentle}')", "renderedPosition")
    detail = page.locator("#picture-detail")
    detail.locator("h2", has_text="Gentle Presence").wait_for()
    text = detail.inner_text()
    assert "contexts" in text.lower() and "When someone is grieving" in text
    assert "I used to think Plain Honesty was enough" in detail.inner_text()
    screenshots(page, "picture-value")

    edge_id = f"{contexts[0].pk}:{values[0].pk}:{values[1].pk}"
    _click(page, f"graphPicture.cy.getElementById('{edge_id}')", "renderedMidpoint")
    detail.locator("h3", has_text="Votes per group").wait_for()
    text = detail.inner_text()
    assert "democrat" in text and "republican" in text and "shown to participants" in text
    screenshots(page, "picture-edge")

    # A phone: the canvas fills the width, the panel goes under it.
    phone = browser.new_page(viewport=PHONE)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"{base}{path}")
    nodes, _ = _drawn(phone)
    assert len(nodes) == len(VALUES)
    canvas = phone.locator("#graph-picture").bounding_box()
    panel = phone.locator("#picture-panel").bounding_box()
    assert canvas["width"] <= PHONE["width"] and panel["y"] >= canvas["y"] + canvas["height"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshots(phone, "picture-phone")
    assert not errors, errors
