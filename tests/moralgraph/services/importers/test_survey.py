"""The survey export: columns found by their questions, test rows skipped, the latest
answer of a repeated id kept, recruiter ids never stored (not even hashed), and a second
import of the same file changing nothing."""

import hashlib
import re
import shutil
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import models
from django.db.models.functions import Cast

from elicitation.models import SurveyAnswer
from moralgraph.research.legitimacy import legitimacy
from moralgraph.services.importers import import_reference
from moralgraph.services.importers.survey import SurveyFile, parse_timestamp, read_survey

from .conftest import REFERENCE, SURVEY

pytestmark = pytest.mark.django_db

IDS = sorted(set(re.findall(r"SURVEYFAKEID\d+", SURVEY.read_text(encoding="utf-8-sig"))))


def _import(survey=SURVEY):
    out = StringIO()
    call_command(
        "import_reference", str(REFERENCE), "--study", "ref", "--survey", str(survey), stdout=out
    )
    return out.getvalue()


def _answers():
    rows = SurveyAnswer.objects.filter(participant=None).order_by("answered_at")
    return [(a.represented, a.clarified, a.learned, a.respect, a.trust) for a in rows]


def test_it_imports_each_response_once_with_the_latest_of_a_repeated_id():
    text = _import()
    assert sorted(_answers(), key=str) == sorted(
        [
            (5, 4, 4, 5, 4),
            (4, 3, 5, 4, 2),
            (5, 5, 5, 5, 5),  # id 3: the next day's answer, not the first
            (3, 4, 4, 3, 4),
            (4, 4, None, None, 4),  # no id; skipped questions stay empty
            (5, None, None, 4, None),  # 6 and 0 are off the scale; 5.0 is 5
            (1, 1, 1, 1, 1),  # id 6: the later answer, though first in the file
            (5, 1, 1, 1, 1),  # id 7: 11:00 em is after 11:30 ip the same day
        ],
        key=str,
    )
    assert SurveyAnswer.objects.filter(source=SurveyAnswer.Source.IMPORTED).count() == 8
    assert "survey responses: 8 imported, 0 already there" in text
    assert "skipped: 2 survey rows: no answer from 1 to 5 (a test row?)" in text
    assert "skipped: 3 survey rows: an earlier answer of an id that answered again" in text
    assert "unknown time zones read as UTC (dates kept): XYZT" in text
    assert "survey columns without a header, not read: 2" in text


def test_the_legitimacy_figures_count_the_imported_responses():
    study = import_reference(REFERENCE, study_slug="ref", survey_file=SURVEY).study
    shares = legitimacy(study)
    assert {key: (s.yes, s.n) for key, s in shares.items()} == {
        "represented": (6, 8),
        "clarified": (4, 7),
        "learned": (4, 6),
        "respect": (4, 7),
        "trust": (4, 7),
        "fair": (0, 0),
    }


def test_a_second_import_changes_nothing():
    _import()
    before = list(SurveyAnswer.objects.order_by("pk").values())
    text = _import()
    assert "survey responses: 0 imported, 8 already there" in text
    assert "Nothing new" in text
    assert list(SurveyAnswer.objects.order_by("pk").values()) == before


def test_recruiter_ids_are_never_stored_not_even_hashed():
    assert len(IDS) == 8
    _import()
    needles = set(IDS)
    for recruiter in IDS:
        for name in ("sha256", "sha1", "md5"):
            needles.add(hashlib.new(name, recruiter.encode()).hexdigest())
    text_fields = (models.CharField, models.TextField, models.JSONField)
    searched = 0
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if not isinstance(f, text_fields):
                continue
            values = model.objects.annotate(_text=Cast(f.name, models.TextField()))
            for needle in needles:
                assert not values.filter(_text__icontains=needle).exists(), (model, f.name)
            searched += 1
    assert searched > 50  # every text column of every table, not a handful
    assert SurveyAnswer.objects.filter(participant=None).count() == 8


def test_dates_are_kept_whatever_the_zone():
    survey = SurveyFile("x")
    morning_pm = {"ip": 0, "em": 12}
    assert parse_timestamp("2023/10/06 5:28:17 em EEST", morning_pm, survey) == datetime(
        2023, 10, 6, 14, 28, 17, tzinfo=UTC
    )
    assert parse_timestamp("2023/10/06 12:05:00 ip EEST", morning_pm, survey) == datetime(
        2023, 10, 5, 21, 5, tzinfo=UTC
    )
    unknown = parse_timestamp("2023/10/06 7:44:10 em XYZT", morning_pm, survey)
    assert unknown.date().isoformat() == "2023-10-06" and survey.unknown_zones == {"XYZT"}
    assert parse_timestamp("6.10.2023 17.28.17", {}, survey) == datetime(
        2023, 10, 6, 17, 28, 17, tzinfo=UTC
    )
    assert parse_timestamp("2023-10-06T05:28:17 GMT+3", {}, survey).hour == 2
    assert parse_timestamp("yesterday", {}, survey) is None and survey.undated == 1


def test_ip_means_after_noon_beside_the_finnish_morning(tmp_path):
    path = tmp_path / "fi.csv"
    path.write_text(
        "Aikaleima,Prolific ID,Did it help you clarify what was important to you?\n"
        "2023/10/06 11:00:00 ip. EEST,A,2\n"
        "2023/10/06 11:30:00 ap. EEST,A,5\n"
    )
    [kept] = read_survey(path).responses
    assert kept.answers == {"clarified": 2}  # 11:00 in the afternoon is the later one
    assert kept.answered_at == datetime(2023, 10, 6, 20, tzinfo=UTC)


def test_a_file_with_no_question_column_imports_nothing(tmp_path):
    path = tmp_path / "survey.csv"
    path.write_text("Timestamp,Prolific ID,Favourite colour\n2023/10/06 5:28:17 em EEST,X,blue\n")
    with pytest.raises(CommandError, match="no column matches a survey question"):
        _import(path)
    assert not SurveyAnswer.objects.exists()


def test_a_malformed_dump_imports_no_survey_either(tmp_path):
    directory = tmp_path / "dump"
    shutil.copytree(REFERENCE, directory)
    (directory / "edge.json").write_text("[{")
    with pytest.raises(CommandError):
        call_command(
            "import_reference", str(directory), "--study", "x", "--survey", str(SURVEY),
            stdout=StringIO(),
        )  # fmt: skip
    assert not SurveyAnswer.objects.exists()
