"""Adaptive elicitation on the researcher's pages: per context, judgments so far, still
needed and the participants that means, on the dashboard and in the report."""

import pytest
from django.core.management import call_command

from elicitation.models import Study
from moralgraph.research.report import report
from moralgraph.services import scoring

pytestmark = pytest.mark.django_db


def _scored(graph_study):
    study, question, context, values = graph_study
    Study.objects.filter(pk=study.pk).update(judgment_count=5)
    study.refresh_from_db()
    scoring.score_study(study=study)
    return study, context


def test_the_report_projects_what_each_context_still_needs(graph_study):
    study, context = _scored(graph_study)
    (question,) = report(study)["elicitation"]
    assert question["question_key"] == "q" and question["judgments_per_participant"] == 5
    (row,) = question["contexts"]
    assert row["context"] == context.text and not row["settled"]
    assert row["judgments"] > 0 and row["needed_judgments"] >= 1
    assert row["needed_participants"] == -(-row["needed_judgments"] // 5)
    assert question["participants"] == row["needed_participants"]


def test_the_report_in_markdown_has_the_projection(graph_study, capsys):
    study, context = _scored(graph_study)
    call_command("report", study=study.slug, fmt="md")
    out = capsys.readouterr().out
    assert "## Elicitation progress" in out and context.text in out


def test_the_dashboard_and_the_report_page_show_it(graph_study, admin_client):
    study, context = _scored(graph_study)
    for url in (f"/research/{study.slug}/", f"/research/{study.slug}/report/"):
        page = admin_client.get(url).content.decode()
        assert "Elicitation progress" in page and "more participants" in page


def test_a_settled_question_says_so(graph_study, admin_client):
    study, context = _scored(graph_study)
    snapshot = study.snapshots.get()
    state = snapshot.results["adaptive"]["contexts"][str(context.pk)]
    state.update(status="confident", streak=3, settled=True)
    snapshot.save()
    page = admin_client.get(f"/research/{study.slug}/").content.decode()
    assert "every context settled" in page
