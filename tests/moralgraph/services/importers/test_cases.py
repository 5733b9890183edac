"""contextsOnCases.json: a context is linked to the questions the reference linked it to,
and only to those; without the file the links are inferred, and the import says so."""

from io import StringIO

import pytest
from django.core.management import call_command

from moralgraph.models import Context
from moralgraph.services.importers import ReferenceDumpError, import_reference

from .conftest import REFERENCE

pytestmark = pytest.mark.django_db


def _questions(study, text):
    return {q.external_id for q in study.contexts.get(text=text).questions.all()}


def test_a_context_is_linked_only_to_its_real_questions(dump):
    report = import_reference(dump, study_slug="ref")
    study = report.study
    assert _questions(study, "When a young person is losing motivation") == {"team"}
    # Inference would add "team" (values of both questions were judged here): the file
    # says "loan" only.
    assert _questions(study, "When trust between two people is strained") == {"loan"}
    # Never judged, yet linked by the reference.
    assert _questions(study, "When the choice has lasting consequences") == {"loan"}
    assert not any("inferred" in note for note in report.notes)


def test_without_the_file_links_are_inferred_and_the_command_says_so():
    out = StringIO()
    call_command("import_reference", str(REFERENCE), "--study", "ref", stdout=out)
    assert "contextsOnCases.json is absent" in out.getvalue() and "inferred" in out.getvalue()
    study = Context.objects.get(text="When trust between two people is strained").study
    assert _questions(study, "When trust between two people is strained") == {"team", "loan"}


def test_importing_the_file_later_removes_the_inferred_links(dump):
    import_reference(REFERENCE, study_slug="ref")
    report = import_reference(dump, study_slug="ref")
    study = report.study
    assert _questions(study, "When trust between two people is strained") == {"loan"}
    assert report.created["context-question links removed"] == 1
    again = import_reference(dump, study_slug="ref")
    assert not again.changed


def test_a_link_to_an_unknown_context_stops_the_import(dump):
    path = dump / "contextsOnCases.json"
    path.write_text(path.read_text().replace("When the choice has", "When nobody said"))
    with pytest.raises(ReferenceDumpError) as caught:
        import_reference(dump, study_slug="ref")
    assert "contextsOnCases.json, row 3, field 'contextId'" in str(caught.value)
    assert not Context.objects.exists()
