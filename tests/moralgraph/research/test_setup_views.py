"""Study setup: /research/new/ (creator becomes owner, the study starts in draft), the
settings page (owners only, audited, clear messages), "suggest questions" and the
members page."""

import pytest
from django.contrib.auth.models import Permission

from elicitation.models import Question, Study, StudyMember
from moralgraph.models import AuditEntry
from moralgraph.research.setup import STUDY_FIELDS
from tests import factories

pytestmark = pytest.mark.django_db
Role = StudyMember.Role
HTMX = {"HX-Request": "true"}


def form_data(study: Study | None = None, questions=None, **changes) -> dict:
    """The setup form as a browser posts it: every field with the study's (or a new
    study's) values, the questions, and ``changes``."""
    study = study or Study(title="Grief and AI", slug="grief")
    data = {}
    for name in STUDY_FIELDS:
        value = getattr(study, name)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else str(value)
    items = ["political_affiliation", "age_band", "sex"]
    data["group_item_key"] = study.group_item_key
    if study.group_item_key == "political_affiliation":
        answers = dict(factories_choices())
        for j, answer in enumerate(answers):
            if answer in study.group_answers:
                data[f"group_0_{j}"] = "on"
    assert items  # the default choice items, in order
    if questions is None:
        questions = (
            [
                {"id": q.pk, "key": q.key, "title": q.title, "text": q.text}
                for q in study.questions.all()
            ]
            if study.pk
            else [{"key": "grief", "title": "Grief", "text": "My dog died. What now?"}]
        )
    data["questions-TOTAL_FORMS"] = str(len(questions))
    data["questions-INITIAL_FORMS"] = str(sum(1 for q in questions if q.get("id")))
    for i, q in enumerate(questions):
        for name, value in q.items():
            data[f"questions-{i}-{name}"] = "" if value is None else str(value)
        data.setdefault(f"questions-{i}-ORDER", str(i + 1))
    data.update({k: v for k, v in changes.items() if v is not None})
    for k in [k for k, v in changes.items() if v is None]:
        data.pop(k, None)
    return data


def factories_choices():
    from elicitation.models import DemographicItem

    return [tuple(c) for c in DemographicItem.DEFAULTS[0]["choices"]]


@pytest.fixture
def creator(client, django_user_model):
    user = django_user_model.objects.create_user("creator")
    user.user_permissions.add(Permission.objects.get(codename="add_study"))
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def owned(client, django_user_model):
    user = django_user_model.objects.create_user("owner")
    study = factories.StudyFactory(slug="owned", title="Owned study", status=Study.Status.DRAFT)
    factories.QuestionFactory(study=study, key="q1", title="First", position=0)
    factories.QuestionFactory(study=study, key="q2", title="Second", position=1)
    StudyMember.objects.create(study=study, user=user, role=Role.OWNER)
    client.force_login(user)
    client.user = user
    return client, study


# --- New study ----------------------------------------------------------------------------


def test_creating_needs_the_add_study_permission(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("someone", is_staff=True))
    assert client.get("/research/new/").status_code == 403
    assert client.post("/research/new/", form_data()).status_code == 403
    assert not Study.objects.exists()


def test_the_new_study_form_renders_every_section(creator):
    page = creator.get("/research/new/").content.decode()
    for text in (
        'name="title"',
        'name="questions-0-key"',
        'name="consent_text"',
        'name="selection_count"',
        'name="messages_per_minute"',
        'name="completion_code"',
        'name="group_item_key"',
        'name="quota_0_0"',
        "Model: Interview",
        "Model: Card drafting, Card revision",
        'name="pairwise_confident_probability"',
        'placeholder="0.99"',
        'name="budget_cap_usd"',
        "Suggest questions / contexts",
        'id="question-template"',
    ):
        assert text in page, text
    assert "<script>" not in page.split("</head>")[1]  # the CSP allows no inline script


def test_creating_a_study_makes_its_creator_owner_and_starts_in_draft(creator):
    questions = [
        {"key": "grief", "title": "Grief", "text": "My dog died. What now?"},
        {"key": "loss", "title": "Loss", "text": "My friend moved away.", "seed_message": "Hi!"},
    ]
    data = form_data(questions=questions, status="live")  # status is not a field of the form
    response = creator.post("/research/new/", data)
    assert response.status_code == 302 and response["Location"] == "/research/grief/settings/"
    study = Study.objects.get(slug="grief")
    assert study.status == Study.Status.DRAFT
    assert StudyMember.objects.get(study=study).role == Role.OWNER
    assert [(q.key, q.position, q.seed_message) for q in study.questions.all()] == [
        ("grief", 0, ""),
        ("loss", 1, "Hi!"),
    ]
    entry = AuditEntry.objects.get(study=study)
    assert entry.action == "settings" and entry.details["created"] is True
    assert creator.get("/research/grief/settings/").status_code == 200


@pytest.mark.parametrize("slug", ["new", "members", "settings", "api", "admin", "static"])
def test_a_reserved_word_is_refused_as_slug(creator, slug):
    response = creator.post("/research/new/", form_data(slug=slug))
    assert response.status_code == 400
    assert "a word the research pages use" in response.content.decode()
    assert not Study.objects.exists()


def test_a_new_study_needs_a_question(creator):
    response = creator.post("/research/new/", form_data(questions=[]))
    assert response.status_code == 400
    assert "A study needs at least one question." in response.content.decode()


# --- Settings -----------------------------------------------------------------------------


def test_saving_writes_the_fields_and_an_audit_entry_naming_them(owned):
    client, study = owned
    data = form_data(study, title="Renamed", selection_count="5", budget_cap_usd="12.50")
    response = client.post("/research/owned/settings/", data)
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.title == "Renamed" and study.selection_count == 5
    assert str(study.budget_cap_usd) == "12.50"
    entry = AuditEntry.objects.get(study=study, action="settings")
    assert sorted(entry.details["fields"]) == ["budget_cap_usd", "selection_count", "title"]
    assert entry.actor == client.user


def test_saving_nothing_changed_writes_no_audit(owned):
    client, study = owned
    response = client.post("/research/owned/settings/", form_data(study), follow=True)
    assert "Nothing changed." in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_questions_are_reordered_edited_removed_and_added(owned):
    client, study = owned
    q1, q2 = study.questions.all()
    questions = [
        {"id": q2.pk, "key": "q2", "title": "Second, first now", "text": q2.text, "ORDER": "1"},
        {"id": q1.pk, "key": "q1", "title": "First", "text": q1.text, "ORDER": "3", "DELETE": "on"},
        {"key": "q3", "title": "Third", "text": "A new one.", "ORDER": "2"},
    ]
    response = client.post("/research/owned/settings/", form_data(study, questions=questions))
    assert response.status_code == 302
    assert [(q.key, q.title, q.position) for q in study.questions.all()] == [
        ("q2", "Second, first now", 0),
        ("q3", "Third", 1),
    ]
    assert AuditEntry.objects.get(action="settings").details["fields"] == ["questions"]


def test_two_questions_can_swap_keys(owned):
    client, study = owned
    q1, q2 = study.questions.all()
    questions = [
        {"id": q1.pk, "key": "q2", "title": "First", "text": q1.text},
        {"id": q2.pk, "key": "q1", "title": "Second", "text": q2.text},
    ]
    assert (
        client.post("/research/owned/settings/", form_data(study, questions=questions)).status_code
        == 302
    )
    assert dict(Question.objects.values_list("title", "key")) == {"First": "q2", "Second": "q1"}


def test_a_question_with_participants_cannot_be_removed(owned):
    client, study = owned
    q1, q2 = study.questions.all()
    factories.ParticipantFactory(study=study, question=q1)
    questions = [
        {"id": q1.pk, "key": "q1", "title": "First", "text": q1.text, "DELETE": "on"},
        {"id": q2.pk, "key": "q2", "title": "Second", "text": q2.text},
    ]
    response = client.post("/research/owned/settings/", form_data(study, questions=questions))
    assert response.status_code == 400
    assert "has participants already" in response.content.decode()
    assert study.questions.count() == 2


def test_duplicate_question_keys_are_refused(owned):
    client, study = owned
    q1, q2 = study.questions.all()
    questions = [
        {"id": q1.pk, "key": "same", "title": "First", "text": q1.text},
        {"id": q2.pk, "key": "same", "title": "Second", "text": q2.text},
    ]
    response = client.post("/research/owned/settings/", form_data(study, questions=questions))
    assert response.status_code == 400 and "keys are unique" in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"selection_count": "3", "min_selections": "4"}, "a participant cannot pick more"),
        ({"selection_count": "0"}, "Show at least one value"),
        ({"max_completed": "0"}, "At least 1, or blank"),
        ({"budget_cap_usd": "0"}, "A positive amount"),
        ({"uniform_share": "1.5"}, "A share: between 0 and 1."),
        ({"quota_1_0": "10"}, "A quota is only for a group answer"),
        ({"pairwise_confident_probability": "1.5"}, "A probability: between 0 and 1."),
        ({"group_item_key": "age_band"}, "Tick at least one of its answers as a group."),
        ({"slug": "new"}, "a word the research pages use"),
    ],
)
def test_clear_messages_for_bad_settings(owned, changes, message):
    client, study = owned
    response = client.post("/research/owned/settings/", form_data(study, **changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_groups_quotas_and_thresholds_are_stored(owned):
    client, study = owned
    answers = [a for a, _ in factories_choices()]
    changes = {
        "group_0_0": "on",
        "group_0_1": "on",
        "quota_0_0": "100",
        "pairwise_min_winner_votes": "4",
        "pairwise_confident_probability": "0.9",
    }
    for j in range(len(answers)):
        changes.setdefault(f"group_0_{j}", None)
    response = client.post("/research/owned/settings/", form_data(study, **changes))
    assert response.status_code == 302, response.content.decode()[:3000]
    study.refresh_from_db()
    assert study.group_answers == answers[:2]
    assert study.group_quotas == {answers[0]: 100}
    # Only the overrides are stored; the rest stays the deployment's.
    assert study.pairwise_params == {"min_winner_votes": 4, "confident_probability": 0.9}
    page = client.get("/research/owned/settings/").content.decode()
    assert 'name="pairwise_min_winner_votes"' in page and 'value="4"' in page
    fields = AuditEntry.objects.get(action="settings").details["fields"]
    assert {"group_quotas", "pairwise_params"} <= set(fields)


def test_the_slug_is_fixed_once_the_study_left_draft(owned):
    client, study = owned
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
    study.refresh_from_db()
    client.post("/research/owned/settings/", form_data(study, slug="moved"))
    assert Study.objects.filter(slug="owned").exists()


def test_a_draft_study_can_change_its_slug(owned):
    client, study = owned
    response = client.post("/research/owned/settings/", form_data(study, slug="moved"))
    assert response["Location"] == "/research/moved/settings/"


def test_the_settings_page_has_the_study_head_and_links_members(owned):
    client, study = owned
    page = client.get("/research/owned/settings/").content.decode()
    assert "Owned study" in page and 'href="/research/owned/members/"' in page


# --- Suggestions --------------------------------------------------------------------------


def test_suggest_returns_candidates_for_the_title(creator):
    response = creator.post(
        "/research/new/suggest/",
        {"title": "Views on end-of-life care", "description": "", "questions-TOTAL_FORMS": "0"},
        headers=HTMX,
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("data-add-suggestion") >= 3
    assert 'data-key="end-of-life-care-decision"' in page
    assert "When the user is facing a hard personal decision" in page


def test_suggest_leaves_out_keys_the_study_has(owned):
    client, study = owned
    data = {
        "title": "Grief",
        "questions-TOTAL_FORMS": "1",
        "questions-0-key": "grief-decision",
    }
    page = client.post("/research/owned/settings/suggest/", data, headers=HTMX).content.decode()
    assert 'data-key="grief-decision"' not in page and 'data-key="grief-facts"' in page


def test_suggestions_are_capped_per_researcher(creator, monkeypatch):
    from django.core.cache import cache

    from moralgraph.research import setup_views

    cache.clear()
    monkeypatch.setattr(setup_views, "SUGGESTIONS_PER_HOUR", 1)
    data = {"title": "Grief"}
    assert creator.post("/research/new/suggest/", data).status_code == 200
    response = creator.post("/research/new/suggest/", data)
    assert response.status_code == 429 and "many suggestions" in response.content.decode()


def test_suggest_without_a_title_says_so(creator):
    page = creator.post("/research/new/suggest/", {"title": " "}).content.decode()
    assert "Give the study a title first" in page


# --- Members ------------------------------------------------------------------------------


def test_members_are_added_changed_and_removed_with_audit(owned, django_user_model):
    client, study = owned
    django_user_model.objects.create_user("colleague")
    assert (
        client.post(
            "/research/owned/members/", {"action": "add", "username": "colleague", "role": "viewer"}
        ).status_code
        == 302
    )
    member = StudyMember.objects.get(study=study, user__username="colleague")
    assert member.role == Role.VIEWER
    client.post(
        "/research/owned/members/", {"action": "role", "member": member.pk, "role": "analyst"}
    )
    member.refresh_from_db()
    assert member.role == Role.ANALYST
    client.post("/research/owned/members/", {"action": "remove", "member": member.pk})
    assert not StudyMember.objects.filter(pk=member.pk).exists()
    entries = AuditEntry.objects.filter(study=study, action="member").order_by("created_at", "id")
    assert [e.details.get("role") for e in entries] == ["viewer", "analyst", None]
    assert all(e.details["user"] == "colleague" for e in entries)


def test_an_unknown_username_is_a_clear_error(owned):
    client, study = owned
    response = client.post(
        "/research/owned/members/", {"action": "add", "username": "nobody", "role": "viewer"}
    )
    assert response.status_code == 400
    assert "No active account is called “nobody”." in response.content.decode()


def test_the_last_owner_stays(owned):
    client, study = owned
    me = StudyMember.objects.get(study=study, user=client.user)
    response = client.post("/research/owned/members/", {"action": "remove", "member": me.pk})
    assert response.status_code == 400 and "needs an owner" in response.content.decode()
    response = client.post(
        "/research/owned/members/", {"action": "role", "member": me.pk, "role": "viewer"}
    )
    assert response.status_code == 400
    me.refresh_from_db()
    assert me.role == Role.OWNER
    assert not AuditEntry.objects.exists()


def test_a_member_of_another_study_cannot_be_touched(owned, django_user_model):
    client, study = owned
    other = factories.StudyFactory(slug="elsewhere")
    theirs = StudyMember.objects.create(
        study=other, user=django_user_model.objects.create_user("x"), role=Role.OWNER
    )
    response = client.post("/research/owned/members/", {"action": "remove", "member": theirs.pk})
    assert response.status_code == 404
    assert StudyMember.objects.filter(pk=theirs.pk).exists()
