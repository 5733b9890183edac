"""Study-defined "About you" items and the paper's survey items, added beside the old
fields: 0007 moves the answers across, 0008 drops what they replace."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import elicitation.models.study


class Migration(migrations.Migration):
    dependencies = [
        ("elicitation", "0005_prompt_versions_with_schema"),
    ]

    operations = [
        migrations.CreateModel(
            name="DemographicItem",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="Stable name of the answer, e.g. political_affiliation.",
                        max_length=40,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[a-z][a-z0-9_]*$",
                                "Lower-case letters, digits and _, starting with a letter.",
                            )
                        ],
                    ),
                ),
                ("label", models.CharField(max_length=300)),
                ("help_text", models.CharField(blank=True, max_length=300)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("radio", "Choose one (buttons)"),
                            ("select", "Choose one (list)"),
                            ("text", "Short text"),
                            ("long_text", "Longer text"),
                        ],
                        default="radio",
                        max_length=10,
                    ),
                ),
                (
                    "choices",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text='For a choice: [["value", "Label"], ...].',
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(default=0)),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="demographic_items",
                        to="elicitation.study",
                    ),
                ),
            ],
            options={
                "ordering": ["study", "position", "id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("study", "key"), name="demographic_item_key_unique"
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="demographics",
            name="answers",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="study",
            name="group_item_key",
            field=models.CharField(
                blank=True,
                default="political_affiliation",
                help_text="Key of the About-you item whose answers define groups; blank for none.",
                max_length=40,
            ),
        ),
        migrations.AddField(
            model_name="study",
            name="group_answers",
            field=models.JSONField(
                blank=True,
                default=elicitation.models.study._default_group_answers,
                help_text='The answers of that item that form groups, e.g. ["democrat", "republican"].',
            ),
        ),
        migrations.AddField(
            model_name="surveyanswer",
            name="study",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="survey_answers",
                to="elicitation.study",
            ),
        ),
        migrations.AlterField(
            model_name="surveyanswer",
            name="participant",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="survey",
                to="elicitation.participant",
            ),
        ),
        migrations.AddField(
            model_name="surveyanswer",
            name="respect",
            field=models.PositiveSmallIntegerField(
                blank=True,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(5),
                ],
            ),
        ),
        migrations.AddField(
            model_name="surveyanswer",
            name="fair",
            field=models.BooleanField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="surveyanswer",
            name="fair_answered_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="surveyanswer",
            name="source",
            field=models.CharField(
                choices=[("journey", "In the app"), ("imported", "Imported")],
                default="journey",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="surveyanswer",
            name="import_key",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="surveyanswer",
            name="answered_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name="surveyanswer",
            constraint=models.UniqueConstraint(
                condition=models.Q(("import_key", ""), _negated=True),
                fields=("study", "import_key"),
                name="survey_answer_import_key_unique",
            ),
        ),
    ]
