"""Prompts: loaded from files, versioned, rendered without touching JSON braces."""

from __future__ import annotations

import pytest

from elicitation import llm
from elicitation.llm import prompts
from tests.elicitation.llm.samples import PROMPT_NAMES


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
    for name in PROMPT_NAMES.values():
        assert llm.load_prompt(name).text.strip()
    with pytest.raises(ValueError):
        llm.load_prompt("../etc/passwd")
