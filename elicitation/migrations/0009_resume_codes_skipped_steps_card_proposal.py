"""Identity and edits kept: a resume code (hashed) and the attempts at it, the drawn
steps a participant skipped (for progress), and a newer card draft offered beside the
participant's own."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("elicitation", "0008_drop_fixed_demographics"),
    ]

    operations = [
        migrations.AddField(
            model_name="participant",
            name="resume_code_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="participant",
            name="skipped_steps",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="valuescard",
            name="proposal",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.CreateModel(
            name="ResumeAttempt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("session_key", models.CharField(blank=True, max_length=64)),
                ("address", models.CharField(blank=True, max_length=45)),
                ("succeeded", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "participant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="resume_attempts",
                        to="elicitation.participant",
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="resume_attempts",
                        to="elicitation.study",
                    ),
                ),
            ],
        ),
    ]
