"""The LLMCall log lives in the LLM package and still in the elicitation app's table."""

from __future__ import annotations

from django.apps import apps

from elicitation import models as elicitation_models
from elicitation.llm.models import LLMCall


def test_the_log_is_the_elicitation_apps_model_by_either_path():
    assert elicitation_models.LLMCall is LLMCall
    assert apps.get_model("elicitation", "LLMCall") is LLMCall
    assert LLMCall._meta.db_table == "elicitation_llmcall"
    assert LLMCall._meta.get_field("study").related_model is elicitation_models.Study
