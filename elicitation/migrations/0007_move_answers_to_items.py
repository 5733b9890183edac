"""Every study gets today's "About you" items as its own (only those it asked, when it
chose some), every answer already given moves into ``Demographics.answers`` under its
item's key, and every survey answer learns its study. Reversible."""

from django.db import migrations

OLD_FIELDS = ("political_affiliation", "age_band", "sex", "country", "other")
OLD_MAX_CHARS = {"political_affiliation": 20, "age_band": 20, "sex": 40, "country": 80}

# The items as they stood when they became study-defined (frozen: later edits to
# DemographicItem.DEFAULTS must not change what this migration did).
ITEMS = (
    {
        "key": "political_affiliation",
        "label": "Which of these is closest to your political views?",
        "kind": "radio",
        "choices": [
            ["democrat", "Democrat"],
            ["republican", "Republican"],
            ["independent", "Independent"],
            ["other", "Other"],
            ["prefer_not", "Prefer not to say"],
        ],
    },
    {
        "key": "age_band",
        "label": "Your age",
        "kind": "select",
        "choices": [
            ["18-24", "18–24"],
            ["25-34", "25–34"],
            ["35-44", "35–44"],
            ["45-54", "45–54"],
            ["55-64", "55–64"],
            ["65+", "65 or over"],
            ["prefer_not", "Prefer not to say"],
        ],
    },
    {
        "key": "sex",
        "label": "Your sex",
        "kind": "select",
        "choices": [
            ["female", "Female"],
            ["male", "Male"],
            ["another", "Another way"],
            ["prefer_not", "Prefer not to say"],
        ],
    },
    {"key": "country", "label": "Country you live in", "kind": "text"},
    {
        "key": "other",
        "label": "Anything else about you that shapes how you see these questions?",
        "help_text": "For example your faith, your work or your family. Optional.",
        "kind": "long_text",
    },
)


def answers_from_columns(row: dict) -> dict:
    """The old columns of one Demographics row as answers keyed by item; blanks left out."""
    return {key: row[key] for key in OLD_FIELDS if row.get(key)}


def columns_from_answers(answers: dict) -> dict:
    """The way back: each old column from its answer, cut to the column's length."""
    columns = {}
    for key in OLD_FIELDS:
        value = answers.get(key) or ""
        limit = OLD_MAX_CHARS.get(key)
        columns[key] = value[:limit] if limit else value
    return columns


def forwards(apps, schema_editor):
    Study = apps.get_model("elicitation", "Study")
    DemographicItem = apps.get_model("elicitation", "DemographicItem")
    Demographics = apps.get_model("elicitation", "Demographics")
    SurveyAnswer = apps.get_model("elicitation", "SurveyAnswer")

    items = []
    for study in Study.objects.all():
        wanted = [key for key in study.demographic_fields if key in OLD_FIELDS]
        asked = [item for item in ITEMS if not wanted or item["key"] in wanted]
        items += [
            DemographicItem(study=study, position=position, **item)
            for position, item in enumerate(asked)
        ]
    DemographicItem.objects.bulk_create(items, batch_size=1000)

    batch = []
    for row in Demographics.objects.values("pk", *OLD_FIELDS).iterator(chunk_size=2000):
        batch.append(Demographics(pk=row["pk"], answers=answers_from_columns(row)))
        if len(batch) == 2000:
            Demographics.objects.bulk_update(batch, ["answers"])
            batch = []
    Demographics.objects.bulk_update(batch, ["answers"])

    for study_id in Study.objects.values_list("pk", flat=True):
        SurveyAnswer.objects.filter(participant__study_id=study_id).update(study_id=study_id)


def backwards(apps, schema_editor):
    Study = apps.get_model("elicitation", "Study")
    DemographicItem = apps.get_model("elicitation", "DemographicItem")
    Demographics = apps.get_model("elicitation", "Demographics")
    SurveyAnswer = apps.get_model("elicitation", "SurveyAnswer")

    batch = []
    for row in Demographics.objects.values("pk", "answers").iterator(chunk_size=2000):
        batch.append(Demographics(pk=row["pk"], **columns_from_answers(row["answers"])))
    Demographics.objects.bulk_update(batch, list(OLD_FIELDS), batch_size=2000)

    for study in Study.objects.all():
        keys = list(study.demographic_items.values_list("key", flat=True))
        asked = [key for key in OLD_FIELDS if key in keys]
        study.demographic_fields = [] if asked == list(OLD_FIELDS) else asked
        study.save(update_fields=["demographic_fields"])
    DemographicItem.objects.all().delete()
    # The old survey had no answers without a participant: imported ones cannot go back.
    SurveyAnswer.objects.filter(participant=None).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("elicitation", "0006_demographic_items_and_paper_survey"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
