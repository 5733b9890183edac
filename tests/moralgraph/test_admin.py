"""The graph side's admin: split a merge; the participant side's admin puts failed cards
back in the queue."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from elicitation.models import ValuesCard
from moralgraph.models import AuditEntry, Value, ValueMerge
from moralgraph.services import reconcile
from tests.moralgraph.support import CARDS, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("admin", "admin@example.invalid", "pw-for-tests")
    client.force_login(user)
    return client


def test_the_admin_splits_a_merge(admin_client, queued):
    study = make_study(CARDS[:2])
    reconcile.reconcile_study(study=study)
    merge = ValueMerge.objects.get(study=study)

    response = admin_client.post(
        reverse("admin:moralgraph_valuemerge_changelist"),
        {"action": "split", "_selected_action": [merge.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Split 1 merge(s); 1 card(s) moved back." in response.content.decode()
    merge.refresh_from_db()
    assert merge.undone_at is not None
    assert Value.objects.filter(study=study, is_active=True).count() == 2


def test_the_admin_retries_failed_cards(admin_client, queued):
    study = make_study(CARDS[:1])
    card = ValuesCard.objects.get(study=study)
    ValuesCard.objects.filter(pk=card.pk).update(reconcile_status=ValuesCard.Reconcile.FAILED)

    response = admin_client.post(
        reverse("admin:elicitation_valuescard_changelist"),
        {"action": "retry_reconciliation", "_selected_action": [card.pk]},
        follow=True,
    )

    assert "1 failed card(s) queued" in response.content.decode()
    card.refresh_from_db()
    assert card.reconcile_status == ValuesCard.Reconcile.PENDING


def test_the_audit_log_is_listed_and_read_only_in_the_admin(admin_client):
    study = make_study(CARDS[:1])
    entry = AuditEntry.objects.create(
        study=study, actor_name="admin", action="merge", target_type="merge", target_id="7"
    )

    listing = admin_client.get(reverse("admin:moralgraph_auditentry_changelist"))
    change = admin_client.post(
        reverse("admin:moralgraph_auditentry_change", args=[entry.pk]), {"reason": "rewritten"}
    )
    delete = admin_client.post(
        reverse("admin:moralgraph_auditentry_delete", args=[entry.pk]), {"post": "yes"}
    )

    assert listing.status_code == 200 and "admin" in listing.content.decode()
    assert change.status_code == 403
    assert delete.status_code == 403
    entry.refresh_from_db()
    assert entry.reason == ""


def test_a_superuser_revokes_a_token_in_the_admin(admin_client, django_user_model):
    from moralgraph.services import tokens

    owner = django_user_model.objects.create_user("researcher", password="a long password")
    token, secret = tokens.create_token(user=owner, name="laptop")
    assert tokens.authenticate(secret) is not None

    response = admin_client.post(
        reverse("admin:moralgraph_apitoken_change", args=[token.pk]),
        {"revoked_at_0": "2026-01-01", "revoked_at_1": "00:00:00"},
    )

    assert response.status_code == 302, response.content.decode()[:500]
    assert tokens.authenticate(secret) is None
