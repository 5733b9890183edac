"""The fixed "About you" columns and Study.demographic_fields give way to the study's
items (0007 moved their answers); every survey answer now belongs to a study."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("elicitation", "0007_move_answers_to_items"),
    ]

    operations = [
        migrations.RemoveField(model_name="demographics", name="political_affiliation"),
        migrations.RemoveField(model_name="demographics", name="age_band"),
        migrations.RemoveField(model_name="demographics", name="sex"),
        migrations.RemoveField(model_name="demographics", name="country"),
        migrations.RemoveField(model_name="demographics", name="other"),
        migrations.RemoveField(model_name="study", name="demographic_fields"),
        migrations.AlterField(
            model_name="surveyanswer",
            name="study",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="survey_answers",
                to="elicitation.study",
            ),
        ),
    ]
