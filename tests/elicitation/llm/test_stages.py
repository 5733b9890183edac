"""The table of stages is the one source: models, prompts, schemas, offline modules,
who a participant hears from, and the order and phases other pages read."""

from __future__ import annotations

import importlib

import pytest
from django.conf import settings as django_settings

from elicitation import llm
from elicitation.llm import prompts, stages
from elicitation.llm.errors import friendly
from elicitation.models import Study
from tests.factories import StudyFactory


def test_model_for_and_is_offline_honour_a_study_override(db):
    study = StudyFactory(interview_model="anthropic/claude-sonnet-4")

    assert llm.model_for("interview", study) == "anthropic/claude-sonnet-4"
    assert llm.is_offline("interview", study) is False
    assert llm.model_for("articulate", study) == "offline"
    assert llm.is_offline("articulate", study) is True
    assert llm.is_offline() is True
    with pytest.raises(ValueError, match="unknown LLM stage"):
        llm.model_for("poetry")


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda stage: stage.name)
def test_model_for_reads_the_stages_setting(settings, stage):
    setattr(settings, stage.model_setting, f"provider/model-for-{stage.model_setting}")

    assert llm.model_for(stage.name) == f"provider/model-for-{stage.model_setting}"
    assert llm.model_for(stage.name, Study()) == f"provider/model-for-{stage.model_setting}"


@pytest.mark.parametrize(
    "stage", [s for s in stages.STAGES if s.study_field], ids=lambda stage: stage.name
)
def test_a_study_overrides_a_stage_through_the_tables_field(stage):
    study = Study(**{stage.study_field: "openai/gpt-4o-mini"})

    assert llm.model_for(stage.name, study) == "openai/gpt-4o-mini"
    assert study.model_for(stage.name) == "openai/gpt-4o-mini"


def test_every_setting_and_study_field_the_table_names_exists():
    fields = {field.name for field in Study._meta.get_fields()}
    for stage in stages.STAGES:
        assert hasattr(django_settings, stage.model_setting), stage.model_setting
        assert stage.study_field is None or stage.study_field in fields, stage.study_field


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda stage: stage.name)
def test_every_prompt_of_a_stage_exists(stage):
    for name in stage.prompts:
        assert (prompts.PROMPTS_DIR / f"{name}.md").is_file(), name
        assert llm.load_prompt(name).text.strip()
    # Only the embedding stage sends no prompt.
    assert bool(stage.prompts) is (stage.name != "embed")


def test_every_prompt_file_belongs_to_a_stage():
    files = {
        str(path.relative_to(prompts.PROMPTS_DIR).with_suffix(""))
        for path in prompts.PROMPTS_DIR.glob("*/*.md")
    }

    assert files == {name for stage in stages.STAGES for name in stage.prompts}
    assert stages.for_prompt("moralgraph/context_dedup") is stages.get("dedup")
    assert stages.for_prompt("moralgraph/nothing") is None


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda stage: stage.name)
def test_a_stage_has_a_schema_or_none_and_its_own_offline_module(stage):
    assert stage.schema is None or stage.schema["type"] == "object"
    assert stage.structured is (stage.schema is not None)
    if stage.offline is None:
        assert stage.name == "embed"
    else:
        module = importlib.import_module(f"elicitation.llm.offline.{stage.name}")
        assert stage.offline is module.reply


def test_only_the_interview_replies_in_free_text():
    assert [s.name for s in stages.STAGES if s.offline and not s.structured] == ["interview"]
    with pytest.raises(ValueError, match="not a structured stage"):
        llm.structured(
            stage="interview", prompt=llm.load_prompt("elicitation/interview"), payload={}
        )


def test_the_table_gives_the_order_and_the_phases():
    assert llm.stage_names() == (
        "interview",
        "articulate",
        "revise",
        "embed",
        "dedup",
        "contexts",
        "hypothesis",
        "screen",
        "response",
        "suggest",
        "simulate",
    )
    assert llm.stage_names(llm.JOURNEY) == ("interview", "articulate", "revise")
    assert llm.stage_names(llm.RECONCILE) == (
        "embed",
        "dedup",
        "contexts",
        "hypothesis",
        "screen",
    )
    assert llm.stage_names(llm.EXPORT) == ("response",)
    assert llm.stage_names(llm.SETUP) == ("suggest",)
    assert llm.stage_names("simulate") == ("simulate",)
    assert all(stage.label for stage in llm.STAGES)
    assert llm.get_stage("hypothesis").label == "Upgrade stories"


def test_a_waiting_participant_hears_from_the_stages_speaker():
    assert friendly("interview", "busy").startswith("The interviewer is busy")
    assert "Your conversation is saved" in friendly("revise", "slow")
    assert friendly("revise", "slow").startswith("The card writer")
    assert friendly("dedup", "busy").startswith("The AI assistant")
    assert "Nothing has been lost" in friendly("dedup", "busy")
    for stage in llm.STAGES:
        assert (stage.speaker is not None) is stage.participant_waits
