"""The moderation page: cards (flagged first) and values with hide and unhide forms, the
audit log, filters and pages, and who may use it."""

import pytest
from django.urls import reverse

from elicitation.models import StudyMember, ValuesCard
from moralgraph.models import AuditEntry
from tests import factories
from tests.moralgraph.support import card_value

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    study = factories.StudyFactory(slug="mod", title="Moderated study")
    question = factories.QuestionFactory(study=study)
    for title in ("Plain Honesty", "Gentle Presence", "lol whatever"):
        card_value(study, question, title)
    ValuesCard.objects.filter(study=study, title="lol whatever").update(
        screen_flag="Joke markers: lol"
    )
    return study


def _url(study, *parts):
    return reverse(f"research:{parts[0]}", args=[study.slug, *parts[1:]])


def _member(client, django_user_model, study, role):
    user = django_user_model.objects.create_user(f"{role}-user")
    StudyMember.objects.create(study=study, user=user, role=role)
    client.force_login(user)
    return user


def test_it_lists_flagged_cards_first_with_the_reasons(admin_client, study):
    response = admin_client.get(_url(study, "moderation"))
    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("lol whatever") < page.index("Plain Honesty")
    assert "Joke markers: lol" in page
    assert "Joke or nonsense" in page and "Duplicate participant" in page  # reason select
    assert "1 card flagged by the pre-screen" in page
    assert 'href="/research/mod/moderation/"' in page  # the study head links it


def test_it_hides_and_unhides_a_card_and_logs_it(admin_client, study):
    card = ValuesCard.objects.get(study=study, title="lol whatever")
    url = _url(study, "moderate_card", card.pk)
    response = admin_client.post(url, {"action": "hide", "reason": "joke", "note": "nonsense"})
    assert response.status_code == 302 and response.url == _url(study, "moderation")
    card.refresh_from_db()
    assert card.hidden_reason == "joke"
    page = admin_client.get(_url(study, "moderation") + "?show=hidden").content.decode()
    assert "Hidden: Joke or nonsense" in page and "Plain Honesty" not in page
    assert "nonsense" in page and "admin" in page  # the log: why and who

    admin_client.post(url, {"action": "unhide", "next": "/research/mod/moderation/?show=all"})
    card.refresh_from_db()
    assert card.hidden_at is None
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["unhide", "hide"]


def test_it_hides_a_value(admin_client, study):
    value = study.values.get(title="Gentle Presence")
    admin_client.post(
        _url(study, "moderate_value", value.pk), {"action": "hide", "reason": "abusive"}
    )
    value.refresh_from_db()
    assert value.hidden_reason == "abusive"
    page = admin_client.get(_url(study, "moderation") + "?show=hidden").content.decode()
    assert "Hidden: Abusive" in page


def test_a_bad_reason_changes_nothing_and_says_so(admin_client, study):
    card = ValuesCard.objects.get(study=study, title="Plain Honesty")
    response = admin_client.post(
        _url(study, "moderate_card", card.pk), {"action": "hide", "reason": "boring"}, follow=True
    )
    assert "Choose a reason" in response.content.decode()
    card.refresh_from_db()
    assert card.hidden_at is None and not AuditEntry.objects.exists()


def test_it_never_redirects_off_site(admin_client, study):
    card = ValuesCard.objects.get(study=study, title="Plain Honesty")
    response = admin_client.post(
        _url(study, "moderate_card", card.pk),
        {"action": "hide", "reason": "joke", "next": "https://evil.example/"},
    )
    assert response.url == _url(study, "moderation")


def test_it_pages_the_cards(admin_client, study):
    question = study.questions.first()
    for i in range(26):
        card_value(study, question, f"Value {i:02d}")
    first = admin_client.get(_url(study, "moderation")).content.decode()
    assert "Page 1 of 2" in first
    second = admin_client.get(_url(study, "moderation") + "?page=2").content.decode()
    assert "Page 2 of 2" in second


def test_it_needs_the_analyst_role(client, django_user_model, study):
    card = ValuesCard.objects.get(study=study, title="Plain Honesty")
    _member(client, django_user_model, study, StudyMember.Role.VIEWER)
    assert client.get(_url(study, "moderation")).status_code == 403
    response = client.post(
        _url(study, "moderate_card", card.pk), {"action": "hide", "reason": "joke"}
    )
    assert response.status_code == 403
    card.refresh_from_db()
    assert card.hidden_at is None


def test_an_analyst_may_moderate(client, django_user_model, study):
    _member(client, django_user_model, study, StudyMember.Role.ANALYST)
    assert client.get(_url(study, "moderation")).status_code == 200


def test_a_staff_user_who_is_not_a_member_sees_nothing(client, django_user_model, study):
    client.force_login(django_user_model.objects.create_user("staff", is_staff=True))
    assert client.get(_url(study, "moderation")).status_code == 404


def test_it_rejects_get_on_the_forms(admin_client, study):
    card = ValuesCard.objects.get(study=study, title="Plain Honesty")
    assert admin_client.get(_url(study, "moderate_card", card.pk)).status_code == 405


def test_the_report_leaves_a_hidden_value_out_once_rescored(admin_client, graph_study):
    from moralgraph.research.report import report
    from moralgraph.services import scoring

    study, _, _, (_, _, c) = graph_study  # C leads its context
    scoring.score_study(study=study)
    assert str(c.pk) in {r["winner"]["id"] for r in report(study)["contexts"] if r["winner"]}
    admin_client.post(_url(study, "moderate_value", c.pk), {"action": "hide", "reason": "joke"})
    scoring.score_study(study=study)  # what the queued rescore does
    assert str(c.pk) not in {r["winner"]["id"] for r in report(study)["contexts"] if r["winner"]}
    admin_client.post(_url(study, "moderate_value", c.pk), {"action": "unhide"})
    scoring.score_study(study=study)
    assert str(c.pk) in {r["winner"]["id"] for r in report(study)["contexts"] if r["winner"]}
