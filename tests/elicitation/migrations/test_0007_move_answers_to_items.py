"""Demographics become answers to study-defined items (migrations 0006 to 0008): every
answer already given survives, under its item's key, and the way back restores them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from elicitation.models import DemographicItem, Demographics, Study, SurveyAnswer

BEFORE = [("elicitation", "0005_prompt_versions_with_schema")]

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_answers_survive_the_move_and_the_way_back():
    latest = _latest()
    try:
        old = _migrate(BEFORE)
        OldStudy = old.get_model("elicitation", "Study")
        OldParticipant = old.get_model("elicitation", "Participant")
        OldDemographics = old.get_model("elicitation", "Demographics")
        OldSurveyAnswer = old.get_model("elicitation", "SurveyAnswer")
        every = OldStudy.objects.create(slug="every", title="Every item")
        some = OldStudy.objects.create(
            slug="some", title="Some items", demographic_fields=["country", "age_band"]
        )
        answered = OldParticipant.objects.create(study=every)
        OldDemographics.objects.create(
            participant=answered,
            political_affiliation="republican",
            age_band="45-54",
            sex="female",
            country="Chile",
            other="Farmer",
        )
        blank = OldParticipant.objects.create(study=some)
        OldDemographics.objects.create(participant=blank, political_affiliation="independent")
        OldSurveyAnswer.objects.create(participant=answered, represented=4, fair_position=2)

        _migrate(latest)
        assert Demographics.objects.get(participant_id=answered.pk).answers == {
            "political_affiliation": "republican",
            "age_band": "45-54",
            "sex": "female",
            "country": "Chile",
            "other": "Farmer",
        }
        assert Demographics.objects.get(participant_id=blank.pk).answers == {
            "political_affiliation": "independent"
        }
        keys = lambda slug: list(  # noqa: E731
            DemographicItem.objects.filter(study__slug=slug).values_list("key", flat=True)
        )
        assert keys("every") == ["political_affiliation", "age_band", "sex", "country", "other"]
        assert keys("some") == ["age_band", "country"]  # only what the study asked
        study = Study.objects.get(slug="every")
        assert (study.group_item_key, study.group_answers) == (
            "political_affiliation",
            ["democrat", "republican"],
        )
        # The 1-5 fairness answer stays where it was; the paper's yes / no is left empty.
        answer = SurveyAnswer.objects.get(participant_id=answered.pk)
        assert (answer.study_id, answer.represented, answer.fair_position, answer.fair) == (
            every.pk,
            4,
            2,
            None,
        )

        old = _migrate(BEFORE)
        back = old.get_model("elicitation", "Demographics").objects.get(participant_id=answered.pk)
        assert (back.political_affiliation, back.age_band, back.sex, back.country, back.other) == (
            "republican",
            "45-54",
            "female",
            "Chile",
            "Farmer",
        )
        some = old.get_model("elicitation", "Study").objects.get(slug="some")
        assert some.demographic_fields == ["age_band", "country"]
    finally:
        _migrate(latest)
