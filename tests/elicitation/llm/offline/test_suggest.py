"""Offline stage suggest: candidate questions from a study's title, deterministic and
valid against the stage's schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from elicitation.llm import schemas
from elicitation.llm.offline import suggest
from elicitation.llm.offline.messages import OfflineError


def _ask(**payload) -> dict:
    return json.loads(suggest.reply([("system", "x"), ("user", json.dumps(payload))]))


@pytest.mark.parametrize(
    ("title", "description", "topic"),
    [
        ("Views on end-of-life care", "", "end-of-life care"),
        ("AI and grief", "", "AI and grief"),
        ("", "How people want an AI to talk about the climate crisis with their kids", None),
        ("", "", "everyday choices"),
    ],
)
def test_it_suggests_one_question_per_kind_on_the_topic(title, description, topic):
    reply = _ask(title=title, description=description)
    jsonschema.validate(reply, schemas.SUGGEST_SCHEMA)
    questions = reply["questions"]
    assert [q["key"].rsplit("-", 1)[1] for q in questions] == [
        "decision",
        "facts",
        "guiding",
        "distress",
    ]
    found = topic or suggest.topic_of(title, description)
    assert all(found in q["text"] for q in questions)
    assert all(c.startswith("When ") for q in questions for c in q["contexts"])
    assert _ask(title=title, description=description) == reply  # deterministic


def test_it_leaves_out_the_keys_the_study_has():
    first = _ask(title="Grief")["questions"]
    taken = [{"key": q["key"]} for q in first]
    again = _ask(title="Grief", existing=taken[:2])["questions"]
    assert [q["key"] for q in again] == [q["key"] for q in first[2:]]
    last = _ask(title="Grief", existing=taken)["questions"]
    assert len(last) == 1 and last[0]["key"] not in {t["key"] for t in taken}


def test_markup_in_the_title_is_not_echoed():
    reply = _ask(title="<b>Grief</b> <script>x</script>")
    assert "<" not in json.dumps(reply)


def test_bad_input_is_an_offline_error():
    with pytest.raises(OfflineError):
        suggest.reply([("user", json.dumps({"title": 3}))])
    with pytest.raises(OfflineError):
        suggest.reply([("user", json.dumps({"title": "x", "existing": "no"}))])
