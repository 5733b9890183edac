"""Prompt versions now hash a prompt's text and its stage's JSON schema, not the text alone
(elicitation/llm/prompts). Rewrite the versions stored under the old rule to the new one,
so that training responses cached with an unchanged prompt are still found (and not paid
for again), and a stored version means one thing everywhere.

The map is frozen here: each prompt's text as it stood when schemas joined the hash, its
old version and its new one. The card writer's two prompts get the version of their text
with the card schema their calls were made under: that schema changed in the same
release (to the card rules'), so their current version is a third one. The interview has
no schema: its version did not change.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef

# prompt name: (version of the text alone, version of the text and its stage's schema)
VERSIONS = {
    "elicitation/articulate": ("e848585ab41e", "383347464ef2"),
    "elicitation/revise": ("bd7906acd42a", "fbe6d1b54d12"),
    "moralgraph/dedup": ("c1e9fba399b8", "80a826e96340"),
    "moralgraph/context_dedup": ("3438b2d61493", "5f65736b6724"),
    "moralgraph/contexts": ("a318ab4f96ec", "604de5676acc"),
    "moralgraph/hypothesis": ("87e0775f9928", "fc13d1aea56e"),
    "moralgraph/response": ("0c41c40a21cd", "14305d677965"),
}


def rewrite(apps, versions):
    """Move every stored version ``old`` to ``new`` for ``versions`` {name: (old, new)}."""
    LLMCall = apps.get_model("elicitation", "LLMCall")
    for name, (old, new) in versions.items():
        LLMCall.objects.filter(prompt_name=name, prompt_version=old).update(prompt_version=new)
    # The graph's rows keep a version without the prompt's name; the versions of
    # different texts differ, so one map serves them all.
    renamed = dict(versions.values())
    for label in ("ValueMerge", "HypothesisRun", "UpgradeHypothesis"):
        rows = apps.get_model("moralgraph", label).objects
        for old, new in renamed.items():
            rows.filter(prompt_version=old).update(prompt_version=new)
    TrainingResponse = apps.get_model("moralgraph", "TrainingResponse")
    for old, new in renamed.items():
        # The version is part of the cache's unique key: a response already stored under
        # the new version (written by new code before this ran) is kept, the old one too.
        taken = TrainingResponse.objects.filter(
            value=OuterRef("value"),
            question=OuterRef("question"),
            context=OuterRef("context"),
            model=OuterRef("model"),
            prompt_version=new,
        )
        TrainingResponse.objects.filter(prompt_version=old).exclude(Exists(taken)).update(
            prompt_version=new
        )


def forwards(apps, schema_editor):
    rewrite(apps, VERSIONS)


def backwards(apps, schema_editor):
    rewrite(apps, {name: (new, old) for name, (old, new) in VERSIONS.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("elicitation", "0004_instructions_detailed"),
        ("moralgraph", "0003_export_heartbeat"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
