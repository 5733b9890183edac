"""Legitimacy: the paper's items as shares with n and a 95 % interval, imported answers
counted too, and "no answers yet" (never a paper's figure) where n is 0."""

import pytest

from elicitation.models import SurveyAnswer
from moralgraph.graph.shares import Share
from moralgraph.research import legitimacy
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_legitimacy_shares(study):
    shares = legitimacy.legitimacy(study)
    assert list(shares) == ["represented", "clarified", "learned", "respect", "trust", "fair"]
    assert (shares["represented"].yes, shares["represented"].n) == (2, 2)
    assert shares["represented"].share == 1.0
    assert shares["clarified"].share == 0.5
    assert (shares["learned"].yes, shares["learned"].n) == (1, 1)
    assert shares["trust"].share == 0.5
    assert 0 < shares["trust"].low < 0.5 < shares["trust"].high < 1
    # Nobody answered these: no share, no interval.
    assert shares["respect"] == Share(yes=0, n=0, share=None, low=None, high=None)
    assert shares["fair"].n == 0
    # The 1–5 fairness item stays on the dashboard beside the paper's yes / no.
    figures = {f.key: f for f in legitimacy.figures(study)}
    assert (figures["fair_position"].share.yes, figures["fair_position"].share.n) == (1, 1)


def test_yes_counts_for_fair_and_imported_answers_count_too(study):
    SurveyAnswer.objects.filter(participant__isnull=False).update(fair=True)
    SurveyAnswer.objects.create(
        study=study, source=SurveyAnswer.Source.IMPORTED, import_key="k1", respect=4, fair=False
    )
    SurveyAnswer.objects.create(
        study=study, source=SurveyAnswer.Source.IMPORTED, import_key="k2", respect=3
    )
    shares = legitimacy.legitimacy(study)
    assert (shares["fair"].yes, shares["fair"].n) == (2, 3)
    assert (shares["respect"].yes, shares["respect"].n) == (1, 2)
    assert (shares["represented"].yes, shares["represented"].n) == (2, 2)


def test_another_studys_answers_do_not_count(study):
    other = factories.StudyFactory(slug="elsewhere")
    SurveyAnswer.objects.create(study=other, import_key="x", represented=1, respect=5)
    assert legitimacy.legitimacy(study)["respect"].n == 0
    assert legitimacy.legitimacy(other)["represented"].share == 0.0


def test_the_dashboard_says_no_answers_yet_and_quotes_no_paper(staff):
    study = factories.StudyFactory(slug="empty", title="No answers")
    page = staff.get("/research/empty/").content.decode()
    block = page[page.index('id="legitimacy"') :]
    block = block[: block.index("</section>")]
    assert block.count("no answers yet") == 6
    for paper in ("89", "71%", "75%", "paper"):
        assert paper not in block
    SurveyAnswer.objects.create(study=study, import_key="k", represented=5)
    block = staff.get("/research/empty/").content.decode().split('id="legitimacy"')[1]
    block = block[: block.index("</section>")]
    assert block.count("no answers yet") == 5 and "100.0%" in block and "n = 1" in block
