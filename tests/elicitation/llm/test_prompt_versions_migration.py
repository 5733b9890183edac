"""The data migration that moved stored prompt versions to the rule that hashes the
schema too: every table that keeps a version, the cache key kept unique, reversible."""

from __future__ import annotations

import hashlib
import importlib

import pytest
from django.apps import apps

from elicitation import llm
from elicitation.models import LLMCall
from moralgraph.models import HypothesisRun, TrainingResponse, UpgradeHypothesis, ValueMerge
from tests.factories import ContextFactory, QuestionFactory, StudyFactory, ValueFactory

migration = importlib.import_module("elicitation.migrations.0005_prompt_versions_with_schema")
OLD, NEW = migration.VERSIONS["moralgraph/response"]
OLD_STORY, NEW_STORY = migration.VERSIONS["moralgraph/hypothesis"]
OLD_DEDUP, NEW_DEDUP = migration.VERSIONS["moralgraph/dedup"]


@pytest.fixture
def rows(db):
    study = StudyFactory()
    question = QuestionFactory(study=study)
    context = ContextFactory(study=study)
    a, b = ValueFactory(study=study), ValueFactory(study=study)
    response = {"question": question, "context": context, "model": "offline", "response": "r"}
    interview = llm.load_prompt("elicitation/interview").version
    return {
        "call": LLMCall.objects.create(
            stage="response", model="m", prompt_name="moralgraph/response", prompt_version=OLD
        ),
        # The same version under another prompt's name is not that prompt's: left alone.
        "foreign_call": LLMCall.objects.create(
            stage="dedup", model="m", prompt_name="moralgraph/dedup", prompt_version=OLD
        ),
        "interview_call": LLMCall.objects.create(
            stage="interview",
            model="m",
            prompt_name="elicitation/interview",
            prompt_version=interview,
        ),
        "merge": ValueMerge.objects.create(study=study, into_value=a, prompt_version=OLD_DEDUP),
        "run": HypothesisRun.objects.create(study=study, prompt_version=OLD_STORY),
        "story": UpgradeHypothesis.objects.create(
            study=study,
            from_value=a,
            to_value=b,
            context=context,
            story="s",
            prompt_version=OLD_STORY,
        ),
        "cached": TrainingResponse.objects.create(value=a, prompt_version=OLD, **response),
        "other": TrainingResponse.objects.create(
            value=a, prompt_version="0123abcd4567", **response
        ),
        # b's answer exists under both versions: the cache key must stay unique.
        "twin_old": TrainingResponse.objects.create(value=b, prompt_version=OLD, **response),
        "twin_new": TrainingResponse.objects.create(value=b, prompt_version=NEW, **response),
        "interview": interview,
    }


def _versions(rows: dict) -> dict[str, str]:
    return {
        key: type(row).objects.get(pk=row.pk).prompt_version
        for key, row in rows.items()
        if key != "interview"
    }


def test_it_moves_every_stored_version_to_the_new_rule(rows):
    migration.forwards(apps, None)

    assert _versions(rows) == {
        "call": NEW,
        "foreign_call": OLD,
        "interview_call": rows["interview"],
        "merge": NEW_DEDUP,
        "run": NEW_STORY,
        "story": NEW_STORY,
        "cached": NEW,
        "other": "0123abcd4567",
        "twin_old": OLD,
        "twin_new": NEW,
    }


def test_it_can_be_undone(rows):
    before = _versions(rows)
    migration.forwards(apps, None)

    migration.backwards(apps, None)

    assert _versions(rows) == before
    assert before["cached"] == OLD and before["call"] == OLD


AFTER_THE_MIGRATION = {"elicitation/suggest", "moralgraph/screen", "moralgraph/simulate"}


def test_it_maps_each_old_version_from_the_text_alone():
    for name, (old, new) in migration.VERSIONS.items():
        assert len(old) == len(new) == 12 and old != new, name
    assert "elicitation/interview" not in migration.VERSIONS  # no schema: no change
    assert len({old for old, _ in migration.VERSIONS.values()}) == len(migration.VERSIONS)
    # Every prompt that existed then (later ones were hashed with their schema from the
    # start).
    assert (
        set(migration.VERSIONS) | {"elicitation/interview"}
        == {name for stage in llm.STAGES for name in stage.prompts} - AFTER_THE_MIGRATION
    )


def test_a_cached_training_response_is_found_again_after_it(rows):
    prompt = llm.load_prompt("moralgraph/response")
    if hashlib.sha256(prompt.text.encode()).hexdigest()[:12] != OLD:
        pytest.skip("the response prompt was edited since the migration: new answers are due")

    migration.forwards(apps, None)

    assert prompt.version == NEW
    assert TrainingResponse.objects.filter(prompt_version=prompt.version).count() == 2
