"""services.studies: create a study (owner, draft, audited), update its settings (only
what changed, audited), members (never without an owner), and question suggestions."""

import pytest

from elicitation.models import LLMCall, Participant, Study, StudyMember
from moralgraph.models import AuditEntry
from moralgraph.services import studies
from tests import factories
from tests.helpers import advance_to, make_study, start

pytestmark = pytest.mark.django_db
Role = StudyMember.Role


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner")


def test_create_study_starts_in_draft_with_its_creator_as_owner(owner):
    study = studies.create_study(
        actor=owner,
        fields={"title": "T", "slug": "t", "status": Study.Status.LIVE},
        questions=[{"key": "a", "title": "A", "text": "Text?"}],
    )
    assert study.status == Study.Status.DRAFT
    assert study.members.get().user == owner and study.members.get().role == Role.OWNER
    assert study.questions.get().key == "a"
    assert study.demographic_items.exists()  # the default About-you items
    assert AuditEntry.objects.get(study=study).actor_name == "owner"


def test_new_or_edited_questions_queue_their_contexts(
    owner, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        study = studies.create_study(
            actor=owner,
            fields={"title": "T", "slug": "t"},
            questions=[{"key": "a", "title": "A", "text": "Text?"}],
        )
    assert queued == [("moralgraph.tasks.reconcile_study", (study.pk,), None)]
    rows = [{"id": study.questions.get().pk, "key": "a", "title": "A", "text": "Text?"}]
    with django_capture_on_commit_callbacks(execute=True):
        studies.update_settings(study=study, actor=owner, fields={"title": "U"}, questions=rows)
    assert len(queued) == 1  # the questions did not change
    with django_capture_on_commit_callbacks(execute=True):
        studies.update_settings(
            study=study, actor=owner, fields={}, questions=[{**rows[0], "text": "Other?"}]
        )
    assert len(queued) == 2


def test_update_settings_names_only_what_changed(owner):
    study = factories.StudyFactory(title="Old", selection_count=6)
    question = factories.QuestionFactory(study=study, key="q")
    rows = [{"id": question.pk, "key": "q", "title": question.title, "text": question.text}]
    changed = studies.update_settings(
        study=study,
        actor=owner,
        fields={"title": "New", "selection_count": 6},
        questions=rows,
    )
    assert changed == ["title"]
    assert Study.objects.get(pk=study.pk).title == "New"
    assert (
        studies.update_settings(study=study, actor=owner, fields={"title": "New"}, questions=rows)
        == []
    )
    assert AuditEntry.objects.filter(study=study).count() == 1


def test_the_last_owner_can_be_neither_demoted_nor_removed(owner, django_user_model):
    study = factories.StudyFactory()
    mine = StudyMember.objects.create(study=study, user=owner, role=Role.OWNER)
    with pytest.raises(studies.MemberError):
        studies.change_role(study=study, actor=owner, member=mine, role=Role.VIEWER)
    with pytest.raises(studies.MemberError):
        studies.remove_member(study=study, actor=owner, member=mine)
    other = studies.add_member(
        study=study, actor=owner, user=django_user_model.objects.create_user("b"), role=Role.OWNER
    )
    with pytest.raises(studies.MemberError, match="already a member"):
        studies.add_member(study=study, actor=owner, user=other.user, role=Role.VIEWER)
    assert studies.change_role(study=study, actor=owner, member=mine, role=Role.VIEWER)
    assert not studies.change_role(study=study, actor=owner, member=mine, role=Role.VIEWER)
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {"member"}


def test_suggest_questions_goes_through_the_llm_stage(settings):
    settings.LLM_MODEL = "offline"
    found = studies.suggest_questions(title="Gambling and young people")
    assert len(found) == 4
    assert all(q["text"] and q["contexts"] and q["key"] for q in found)
    assert LLMCall.objects.filter(stage="suggest").count() == 1
    again = studies.suggest_questions(
        title="Gambling and young people", existing=[{"key": found[0]["key"]}]
    )
    assert found[0]["key"] not in {q["key"] for q in again}


def test_a_quota_lowered_on_the_settings_page_acts_at_once(owner):
    study = make_study()
    advance_to(start(study, session_key="a"), Participant.Step.DONE)
    advance_to(start(study, session_key="b"), Participant.Step.INTERVIEW)
    rows = [
        {"id": q.pk, "key": q.key, "title": q.title, "text": q.text} for q in study.questions.all()
    ]
    studies.update_settings(study=study, actor=owner, fields={"max_completed": 1}, questions=rows)
    study.refresh_from_db()
    # One completed already: closing now, while the one still inside may finish.
    assert study.status == Study.Status.CLOSING
    assert AuditEntry.objects.filter(study=study, action="status", details__to="closing").exists()
