"""manage.py dedup_eval: the figures of a small labelled file, computed by hand, and a
database left as it was."""

import json

import pytest
from django.core.management import CommandError, call_command

from elicitation.models import LLMCall, Question, Study, ValuesCard
from moralgraph.models import CardMapping, Value, ValueMerge

pytestmark = pytest.mark.django_db

# a1, a2: the same value in nearly the same words; f1: another value; a3: the first value
# in its own words, keeping a few of its words; a4: the first value in words it shares
# with nothing (no retrieval can find it).
CARDS = [
    {
        "id": "a1",
        "label": "autonomy",
        "title": "Informed Autonomy",
        "description": "Helping her see her options clearly so the choice is truly hers.",
        "policies": [
            "FEELINGS of being pressured that might cloud her judgement",
            "OPTIONS she has not yet considered",
            "PEOPLE who have faced the same choice",
        ],
    },
    {
        "id": "a2",
        "label": "autonomy",
        "title": "Autonomy Informed",
        "description": "Helping her see her options clearly, so that the choice is hers.",
        "policies": [
            "FEELINGS of pressure that could cloud her judgement",
            "OPTIONS she has not considered yet",
            "PEOPLE who faced the same choice before",
        ],
    },
    {
        "id": "f1",
        "label": "faith",
        "title": "Faithful Discernment",
        "description": "Taking her faith seriously as a source of wisdom.",
        "policies": [
            "PRAYER and the guidance of a church community",
            "SCRIPTURE passages that speak to this situation",
            "CONVERSATIONS with a trusted pastor",
        ],
    },
    {
        "id": "a3",
        "label": "autonomy",
        "own_wording": True,
        "title": "Her Own Decision",
        "description": "Making sure the decision really belongs to her.",
        "policies": [
            "PRESSURE from others that could cloud her judgement",
            "CHOICES nobody has mentioned to her yet",
        ],
    },
    {
        "id": "a4",
        "label": "autonomy",
        "own_wording": True,
        "title": "Self Determination",
        "description": "Letting the young woman decide for herself.",
        "policies": ["COERCION by relatives", "ALTERNATIVES unknown to the girl"],
    },
]


def counts():
    return [
        model.objects.count()
        for model in (Study, Question, ValuesCard, Value, ValueMerge, CardMapping, LLMCall)
    ]


def run(tmp_path, capsys, *args):
    path = tmp_path / "cards.jsonl"
    path.write_text("\n".join(json.dumps(card) for card in CARDS) + "\n", encoding="utf-8")
    call_command("dedup_eval", "--cards", str(path), *args)
    return json.loads(capsys.readouterr().out)


def test_the_oracle_gives_the_figures_computed_by_hand(tmp_path, capsys, settings):
    settings.DEDUP_BATCH_CARDS = 1  # one call per card with a candidate
    before = counts()

    figures = run(tmp_path, capsys)

    # Placed: {a1, a2, a3} {f1} {a4}. True pairs: the 6 among a1..a4; found: 3, all true.
    assert figures["values_found"] == 3
    assert figures["precision"] == 1.0
    assert figures["recall"] == 0.5
    # Pairs with a3 or a4: 5 true (all but a1-a2); found together: a3-a1, a3-a2.
    assert figures["own_wording_precision"] == 1.0
    assert figures["own_wording_recall"] == 0.4
    # a2, a3 and a4 had a card of their value before them; a4's was not shown.
    assert figures["retrieval_recall_at_k"] == 0.6667
    assert figures["own_wording_retrieval_recall_at_k"] == 0.5
    # a2, f1 (the autonomy cards share its little words: cosine 0.3) and a3 had
    # candidates: a call each; a1 and a4 none.
    assert figures["llm_calls"] == 3
    assert figures["llm_calls_per_card"] == 0.6
    assert figures["judge"] == "oracle"
    assert counts() == before


def test_cards_that_arrive_together_share_calls(tmp_path, capsys):
    figures = run(tmp_path, capsys, "--k", "3")

    assert figures["llm_calls"] == 1  # a1, a2, f1 and a3 in one batch
    assert figures["recall"] == 0.5


def test_the_configured_judge_is_asked_and_its_calls_leave_no_trace(tmp_path, capsys):
    before = counts()

    figures = run(tmp_path, capsys, "--judge", "configured")

    # The offline heuristic merges the near copies only.
    assert figures["judge"] == "configured"
    assert figures["values_found"] == 4
    assert figures["recall"] == pytest.approx(1 / 6, abs=1e-4)
    assert figures["llm_calls"] >= 1
    assert counts() == before


def test_it_refuses_a_bad_file(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"title": "No label"}\n', encoding="utf-8")
    with pytest.raises(CommandError, match="line 1"):
        call_command("dedup_eval", "--cards", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("dedup_eval", "--cards", str(tmp_path / "missing.jsonl"))
