"""graphPositionVerification.json becomes answers on fairness (with their dates), and
deduplicationVerification.json becomes merge checks, mapped to values as far as the dump
allows, with what could not be mapped counted."""

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from elicitation.models import Participant, SurveyAnswer
from moralgraph.models import MergeCheck
from moralgraph.research.legitimacy import legitimacy
from moralgraph.services.importers import import_reference

pytestmark = pytest.mark.django_db


def test_position_checks_become_fair_answers_with_their_dates(dump):
    study = import_reference(dump, study_slug="ref").study
    answers = {
        a.participant.external_id: a
        for a in SurveyAnswer.objects.filter(study=study).select_related("participant")
    }
    assert {user: a.fair for user, a in answers.items()} == {
        "1": True,
        "2": False,
        "3": False,  # answered twice: the later answer
        "11": True,  # known only from this file: an anonymous imported participant
    }
    assert answers["3"].fair_answered_at == datetime(2023, 10, 21, 12, tzinfo=UTC)
    assert {a.source for a in answers.values()} == {SurveyAnswer.Source.IMPORTED}
    assert all(a.fair_position is None and a.represented is None for a in answers.values())
    newcomer = Participant.objects.get(study=study, external_id="11")
    assert newcomer.recruiter_pid == "" and not hasattr(newcomer, "demographics")
    fair = legitimacy(study)["fair"]
    assert (fair.yes, fair.n) == (2, 4)


def test_dedup_checks_become_merge_checks(dump):
    out = StringIO()
    call_command("import_reference", str(dump), "--study", "ref", stdout=out)
    checks = {
        (c.participant.external_id, c.card.external_id): (c.value.external_id, c.answer)
        for c in MergeCheck.objects.select_related("participant", "card", "value")
    }
    assert checks == {
        ("1", "201"): ("101", "same"),  # its deduplicated card is unknown: the card's value
        ("2", "202"): ("101", "different"),  # deduplication.json: its cards all count for 101
        ("4", "204"): ("103", "different"),  # checked twice: the later answer
        ("5", "205"): ("104", "same"),  # its deduplicated card's cards disagree: the card's
    }
    check = MergeCheck.objects.get(participant__external_id="4")
    assert check.created_at == datetime(2023, 10, 11, 12, tzinfo=UTC)
    assert check.study.slug == "ref" and check.merge is None
    text = out.getvalue()
    assert "1 mapped through deduplication.json, 4 through the checked card's value" in text
    assert "2 merge checks could not be mapped" in text
    assert "1 merge checks repeat" in text


def test_a_second_import_changes_nothing(dump):
    import_reference(dump, study_slug="ref")
    counts = (SurveyAnswer.objects.count(), MergeCheck.objects.count())
    again = import_reference(dump, study_slug="ref")
    assert not again.changed
    assert (SurveyAnswer.objects.count(), MergeCheck.objects.count()) == counts
    assert again.existing["fair answers"] == 4 and again.existing["merge checks"] == 4


def test_a_fair_answer_joins_an_existing_survey_answer_and_never_replaces_one(dump):
    study = import_reference(dump, study_slug="ref").study
    answer = SurveyAnswer.objects.get(participant__external_id="1")
    answer.represented = 5
    answer.save()
    SurveyAnswer.objects.filter(participant__external_id="2").update(fair=None)
    rows = json.loads((dump / "graphPositionVerification.json").read_text())
    rows[1]["isSatisfiedWithPosition"] = True
    (dump / "graphPositionVerification.json").write_text(json.dumps(rows))
    report = import_reference(dump, study_slug="ref")
    assert report.created["fair answers"] == 1
    assert SurveyAnswer.objects.get(participant__external_id="2").fair is True
    assert SurveyAnswer.objects.get(participant__external_id="1").represented == 5
    assert SurveyAnswer.objects.filter(study=study).count() == 4


def test_a_malformed_check_stops_the_import(dump):
    path = dump / "deduplicationVerification.json"
    path.write_text(path.read_text().replace('"option": "same"', '"option": "maybe"', 1))
    with pytest.raises(Exception) as caught:
        import_reference(dump, study_slug="ref")
    assert "deduplicationVerification.json, row 1, field 'option'" in str(caught.value)
    assert not MergeCheck.objects.exists() and not SurveyAnswer.objects.exists()
