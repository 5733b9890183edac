"""Prompts: loaded from files, versioned, rendered without touching JSON braces."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from elicitation import llm
from elicitation.llm import prompts, stages


def test_a_prompt_version_follows_its_text(monkeypatch, tmp_path):
    monkeypatch.setattr(prompts, "PROMPTS_DIR", tmp_path)
    path = tmp_path / "elicitation" / "interview.md"
    path.parent.mkdir(parents=True)
    path.write_text("Ask about {question}.")
    first = llm.load_prompt("elicitation/interview")

    path.write_text("Ask gently about {question}, please.")
    second = llm.load_prompt("elicitation/interview")

    assert first.version != second.version
    assert len(first.version) == 12
    assert second.text == "Ask gently about {question}, please."
    assert llm.load_prompt("elicitation/interview") == second


def test_render_fills_placeholders_and_keeps_json_braces():
    prompt = llm.Prompt(
        name="x/y",
        text='Question: {question}\nReply as {"title": "...", "policies": []}',
        version="v",
    )

    text = llm.render(prompt, question="What about {other}?", unused=1)

    assert text == 'Question: What about {other}?\nReply as {"title": "...", "policies": []}'
    with pytest.raises(KeyError, match="question"):
        llm.render(prompt)


def test_every_stage_has_a_prompt():
    interview = llm.load_prompt("elicitation/interview")

    assert "Question: {question}" in interview.text
    for stage in llm.STAGES:
        if stage.prompt:
            assert llm.load_prompt(stage.prompt).text.strip()
    with pytest.raises(ValueError):
        llm.load_prompt("../etc/passwd")


def test_a_prompt_version_changes_when_its_schema_changes(monkeypatch):
    before = llm.load_prompt("moralgraph/dedup")
    dedup = stages.get("dedup")
    schema = {**dedup.schema, "required": ["same"]}
    changed = dataclasses.replace(dedup, schema=schema)
    monkeypatch.setattr(
        stages, "STAGES", tuple(changed if s is dedup else s for s in stages.STAGES)
    )

    after = llm.load_prompt("moralgraph/dedup")

    assert after.text == before.text
    assert after.version != before.version
    assert after.version == prompts.version_of(before.text, schema)
    # The same schema written in another key order is the same version.
    reordered = dict(reversed(list(schema.items())))
    assert prompts.version_of(before.text, reordered) == after.version


def test_a_version_hashes_the_text_and_the_schema():
    schema = stages.get("response").schema

    assert prompts.version_of("Answer.", schema) != prompts.version_of("Answer!", schema)
    assert prompts.version_of("Answer.", schema) != prompts.version_of("Answer.", None)
    # A stage without a schema is versioned by its text alone, as before schemas counted.
    interview = llm.load_prompt("elicitation/interview")
    assert interview.version == hashlib.sha256(interview.text.encode()).hexdigest()[:12]
    response = llm.load_prompt("moralgraph/response")
    assert response.version == prompts.version_of(response.text, schema)


def test_a_prompt_no_stage_sends_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(prompts, "PROMPTS_DIR", tmp_path)
    (tmp_path / "moralgraph").mkdir()
    (tmp_path / "moralgraph" / "poetry.md").write_text("Write a poem.")

    with pytest.raises(ValueError, match="no stage sends"):
        llm.load_prompt("moralgraph/poetry")
