"""manage.py score: the top values per context, compat mode, --as-of."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from elicitation.models import Demographics, WiserJudgment
from moralgraph.models import GraphSnapshot
from tests.factories import (
    ContextFactory,
    ParticipantFactory,
    StudyFactory,
    UpgradeHypothesisFactory,
    ValueFactory,
)

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _judged_study():
    """b beats a and c beats b, by democrats and republicans alike, in one context."""
    study = StudyFactory()
    context = ContextFactory(study=study, text="When the user is in distress")
    a = ValueFactory(study=study, title="Plain Comfort")
    b = ValueFactory(study=study, title="Steady Presence")
    c = ValueFactory(study=study, title="Grounded Care")
    ab = UpgradeHypothesisFactory(study=study, from_value=a, to_value=b, context=context)
    bc = UpgradeHypothesisFactory(study=study, from_value=b, to_value=c, context=context)
    long_ago = timezone.now() - timedelta(days=30)
    for hypothesis, when in ((ab, long_ago), (bc, timezone.now())):
        for politics in ("democrat", "republican", "democrat", "republican"):
            participant = ParticipantFactory(study=study)
            Demographics.objects.create(
                participant=participant, answers={"political_affiliation": politics}
            )
            WiserJudgment.objects.create(
                participant=participant,
                hypothesis=hypothesis,
                pair_key=WiserJudgment.make_pair_key(
                    hypothesis.from_value_id, hypothesis.to_value_id
                ),
                verdict="upgrade",
                created_at=when,
            )
    return study


def test_score_prints_the_top_values_per_context():
    study = _judged_study()
    out = run("score", "--study", study.slug)

    assert "(default): 8 judgments" in out
    assert "When the user is in distress" in out
    lines = out.splitlines()
    first = next(line for line in lines if line.strip().startswith("1."))
    # Four unanimous votes make a leader, not a confident winner; two votes per group
    # are too few to tell whether it bridges.
    assert "Grounded Care" in first and "bridging unknown" in first
    assert "insufficient: " in out and "needs 10" in out
    assert GraphSnapshot.objects.filter(study=study, mode="default").count() == 1


def test_score_compat_mode():
    study = _judged_study()
    out = run("score", "--study", study.slug, "--mode", "compat")
    assert "(compat): 8 judgments" in out
    assert "1. Grounded Care (pageRank" in out
    assert GraphSnapshot.objects.get(study=study).mode == "compat"


def test_score_as_of_leaves_out_later_judgments():
    study = _judged_study()
    day = (timezone.now() - timedelta(days=2)).date().isoformat()
    out = run("score", "--study", study.slug, "--as-of", day)
    assert "4 judgments before" in out
    snapshot = GraphSnapshot.objects.get(study=study)
    assert snapshot.judgment_count == 4
    assert snapshot.as_of.date().isoformat() == day
    # Before the later judgments, the value they made wiser has not yet won.
    first = next(line for line in out.splitlines() if line.strip().startswith("1."))
    assert "Steady Presence" in first
    assert "Grounded Care" not in out


def test_score_rejects_a_bad_date():
    study = StudyFactory()
    with pytest.raises(CommandError, match="ISO date"):
        run("score", "--study", study.slug, "--as-of", "last tuesday")


def test_score_with_no_judgments_says_so():
    study = StudyFactory()
    out = run("score", "--study", study.slug)
    assert "0 judgments" in out
    assert "No judgments yet" in out
