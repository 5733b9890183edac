"""manage.py report: the same data as the page, as JSON or Markdown (a table per
question), nulls where n is 0."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from elicitation.models import SurveyAnswer
from moralgraph.models import Context, UpgradeHypothesis
from moralgraph.services import scoring
from tests import factories
from tests.moralgraph.support import card_value, judge

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("report", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def two_questions():
    study = factories.StudyFactory(slug="two", title="Two questions")
    q1 = factories.QuestionFactory(study=study, key="first", title="First Q", position=0)
    q2 = factories.QuestionFactory(study=study, key="second", title="Second Q", position=1)
    for question, text in ((q1, "When grieving"), (q2, "When choosing")):
        context = Context.objects.create(study=study, text=text)
        context.questions.add(question)
        _, a = card_value(study, question, f"Plain {text}")
        _, b = card_value(study, question, f"Wise {text}")
        hypothesis = UpgradeHypothesis.objects.create(
            study=study, from_value=a, to_value=b, context=context
        )
        judge(study, hypothesis, ["upgrade"] * 3, ["democrat", "republican", None])
    SurveyAnswer.objects.create(study=study, import_key="k", represented=5, clarified=2)
    scoring.score_study(study=study)
    return study


def test_json(two_questions):
    data = json.loads(run("--study", "two", "--format", "json"))
    assert data["study"] == "two"
    assert data["legitimacy"]["represented"]["yes"] == 1
    assert data["legitimacy"]["represented"]["n"] == 1
    assert data["legitimacy"]["clarified"]["share"] == 0.0
    # n = 0: nulls, never a paper's figure.
    assert data["legitimacy"]["respect"] == {
        "yes": 0,
        "n": 0,
        "share": None,
        "low": None,
        "high": None,
    }
    assert [(c["question_key"], c["context"]) for c in data["contexts"]] == [
        ("first", "When grieving"),
        ("second", "When choosing"),
    ]
    first = data["contexts"][0]
    assert first["winner"]["title"] == "Wise When grieving"
    assert first["status"] == "insufficient"
    assert first["needed"]
    assert set(data["cross_group_agreement"]) == {"edges", "agree", "share"}


def test_markdown_has_a_table_per_question(two_questions):
    md = run("--study", "two", "--format", "md")
    assert "### First Q (first)" in md
    assert "### Second Q (second)" in md
    assert md.count("| Context | Leader | Status |") == 2
    assert "| When grieving | Wise When grieving | insufficient |" in md
    assert "| Represented" in md or "represented" in md.lower()
    assert md.count("no answers yet") == 4  # learned, respect, trust, fair


def test_an_unknown_study():
    with pytest.raises(CommandError, match="no study"):
        run("--study", "nope")
