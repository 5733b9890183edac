"""The one "counted" rule, end to end: a test participant's card, judgments and survey
answers never move the scores, the dashboard's counts, the report or any export; the
dashboard's toggle shows them."""

import pytest
from django.utils import timezone

from elicitation.models import Participant, SurveyAnswer, ValuesCard, WiserJudgment
from moralgraph.models import CardMapping, UpgradeHypothesis, Value
from moralgraph.research import picture, report, selectors
from moralgraph.services import scoring
from moralgraph.services.exports import FORMATS, build_export
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]


def _everything(study):
    """Every figure a researcher reads: scores, counts, report, every export's bytes."""
    snapshot = scoring.score_study(study=study)
    summary = selectors.study_summaries(type(study).objects.filter(pk=study.pk))[0]
    return {
        "input_hash": snapshot.input_hash,
        "counts": (summary.started, summary.completed, summary.cards, summary.judgments),
        "funnel": selectors.funnel(study).agreed,
        "balance": [(q.participants, q.cards) for q in selectors.question_balance(study)],
        "report": report.report(study),
        "picture": picture.picture_data(study, snapshot),
        "votes": [
            (row.story.pk, row.upgrades, row.not_upgrades, row.not_sure)
            for value_id in (v["id"] for v in snapshot.results["values"])
            for row in picture.value_detail(study, snapshot, value_id).stories
        ],
        "exports": {
            fmt: build_export(study=study, fmt=fmt, generate=True).sha256 for fmt in FORMATS
        },
    }


def _test_participant_takes_part(study):
    question = study.questions.order_by("position").first()
    tester = Participant.objects.create(
        study=study,
        question=question,
        is_test=True,
        step=Participant.Step.DONE,
        consented_at=timezone.now(),
        completed_at=timezone.now(),
    )
    card = ValuesCard.objects.create(
        study=study,
        participant=tester,
        question=question,
        title="Pilot Test Value",
        description="Only a tester wrote this.",
        policies=["THINGS one", "THINGS two", "THINGS three"],
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now(),
        reconcile_status=ValuesCard.Reconcile.DONE,
    )
    value = Value.objects.create(
        study=study, title=card.title, description=card.description, policies=card.policies
    )
    CardMapping.objects.create(card=card, value=value)
    for story in UpgradeHypothesis.objects.filter(study=study).order_by("pk")[:6]:
        WiserJudgment.objects.get_or_create(
            participant=tester,
            pair_key=WiserJudgment.make_pair_key(story.from_value_id, story.to_value_id),
            defaults={"hypothesis": story, "verdict": "no_upgrade"},
        )
    SurveyAnswer.objects.create(
        study=study, participant=tester, represented=1, clarified=1, learned=1, trust=1
    )
    return tester


def test_a_test_participant_moves_no_figure_and_the_toggle_shows_them():
    study = import_reference(REFERENCE, study_slug="ref").study
    # Once to write the training responses (their LLM calls are in the provenance).
    _everything(study)
    before = _everything(study)
    assert sum(upgrades for _, upgrades, _, _ in before["votes"]) > 0
    _test_participant_takes_part(study)
    after = _everything(study)
    assert after == before

    shown = selectors.study_summaries(type(study).objects.filter(pk=study.pk), include_test=True)[0]
    assert shown.started == before["counts"][0] + 1
    assert shown.completed == before["counts"][1] + 1
    assert shown.cards == before["counts"][2] + 1
    assert shown.judgments == before["counts"][3] + 6
    assert selectors.funnel(study, include_test=True).agreed == before["funnel"] + 1


def test_the_dashboard_toggle_shows_test_participants(admin_client):
    study = import_reference(REFERENCE, study_slug="ref").study
    _test_participant_takes_part(study)
    hidden = admin_client.get(f"/research/{study.slug}/").content.decode()
    shown = admin_client.get(f"/research/{study.slug}/?test=1").content.decode()
    assert "Show test participants" in hidden and "Test participants included" not in hidden
    assert "Hide test participants" in shown and "Test participants included" in shown
    assert f'hx-get="/research/{study.slug}/?test=1"' in shown


def test_the_values_count_leaves_out_values_only_test_participants_wrote():
    study = import_reference(REFERENCE, study_slug="ref").study

    def values(**kwargs):
        only = type(study).objects.filter(pk=study.pk)
        return selectors.study_summaries(only, **kwargs)[0].values

    before = values()
    _test_participant_takes_part(study)
    assert values() == before
    assert values(include_test=True) == before + 1
