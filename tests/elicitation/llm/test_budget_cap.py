"""The study's budget cap: background LLM work stops with the reason recorded and a
banner for researchers; a participant mid-interview finishes on the offline model."""

from decimal import Decimal

import pytest

from elicitation import llm
from elicitation.llm import accounting, budget
from elicitation.llm.models import LLMCall
from elicitation.models import Message, ValuesCard
from moralgraph.research.selectors import budget_banner
from moralgraph.services import reconcile
from tests.helpers import HTMX, events, make_study, say, seed_values, stream, to_interview, url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_spend(fast_llm):
    budget.forget()
    yield
    budget.forget()


def _spent(study, usd: str) -> None:
    LLMCall.objects.create(stage="interview", model="gpt-4o-mini", study=study, cost=Decimal(usd))


def _dedup(study):
    return llm.structured(
        stage="dedup",
        prompt=llm.load_prompt("moralgraph/dedup"),
        payload={"a": {"title": "A", "policies": ["x"]}, "b": {"title": "B", "policies": ["y"]}},
        study=study,
    )


def test_under_the_cap_background_work_goes_on():
    study = make_study(budget_cap_usd=Decimal("5.00"))
    _spent(study, "4.99")
    assert "same" in _dedup(study)
    assert budget_banner(study) == ""


def test_at_the_cap_background_work_stops_with_the_reason_recorded():
    study = make_study(budget_cap_usd=Decimal("5.00"))
    _spent(study, "5.00")

    with pytest.raises(budget.BudgetExceeded) as stopped:
        _dedup(study)

    assert not stopped.value.retryable
    assert "Budget cap of $5.00 reached: new LLM work stopped" in str(stopped.value)
    row = LLMCall.objects.filter(study=study, stage="dedup").get()
    assert "Budget cap of $5.00 reached" in row.error and row.cost == 0


def test_the_dashboard_shows_the_banner(admin_client):
    study = make_study(budget_cap_usd=Decimal("2.50"))
    html = admin_client.get(f"/research/{study.slug}/").content.decode()
    assert "Budget cap of" not in html

    _spent(study, "3.10")
    budget.forget()
    html = admin_client.get(f"/research/{study.slug}/").content.decode()
    assert "Budget cap of $2.50 reached: new LLM work stopped" in html


def test_a_participant_mid_interview_finishes_on_the_offline_interviewer(client):
    study = make_study(interview_model="gpt-4o-mini", articulate_model="gpt-4o-mini")
    to_interview(client, study)
    study.budget_cap_usd = Decimal("1.00")
    study.save(update_fields=["budget_cap_usd"])
    _spent(study, "1.00")

    # No network and no key: only the offline fallback can answer.
    assert say(client, study, "The AI should listen to her first.").status_code == 302
    reply = Message.objects.filter(role="assistant", status=Message.Status.COMPLETE).last()
    assert "Thank you. You said" in reply.content
    newest = LLMCall.objects.filter(study=study, stage="interview").order_by("pk").last()
    assert newest.model == "offline" and newest.error == ""
    for text in ("My sister once had to choose.", "I noticed her fear and her friends."):
        say(client, study, text)
    assert client.post(url(study, "interview", "card")).status_code == 302
    assert LLMCall.objects.filter(study=study, stage="articulate").get().model == "offline"


def test_the_spend_is_summed_once_per_refresh_and_kept_up_between(
    settings, django_assert_num_queries
):
    settings.LLM_SPEND_REFRESH_SECONDS = 3600
    study = make_study(budget_cap_usd=Decimal("10"))
    _spent(study, "1.00")
    assert budget.spend(study.pk) == Decimal("1.00")

    _spent(study, "2.00")  # written behind the gateway's back: seen at the next refresh
    with django_assert_num_queries(0):
        assert budget.spend(study.pk) == Decimal("1.00")
    record = accounting.CallRecord(stage="dedup", model="m", prompt=None, study=study, cost=0.5)
    accounting.log(record)  # a call through the gateway counts at once
    with django_assert_num_queries(0):
        assert budget.spend(study.pk) == Decimal("1.50")


def test_a_study_without_a_cap_is_never_summed(django_assert_num_queries):
    study = make_study()
    with django_assert_num_queries(0):
        assert budget.model_within_budget("dedup", "offline", study) == "offline"


def test_at_the_cap_reconciliation_marks_the_card_failed_with_the_reason():
    study = make_study(budget_cap_usd=Decimal("1.00"))
    question = study.questions.get()
    seeded = seed_values(question, 2)[0]
    card = ValuesCard.objects.create(
        study=study,
        question=question,
        title=seeded.title,
        description=seeded.description,
        policies=seeded.policies,
        status=ValuesCard.Status.SUBMITTED,
    )
    _spent(study, "1.00")

    report = reconcile.reconcile_study(study=study)

    card.refresh_from_db()
    assert card.reconcile_status == ValuesCard.Reconcile.FAILED
    assert "Budget cap of $1.00 reached: new LLM work stopped" in card.reconcile_error
    assert report.cards_failed == 1
    assert LLMCall.objects.filter(study=study, error__contains="Budget cap").exists()


def test_the_streamed_reply_at_the_cap_comes_from_the_offline_interviewer(client):
    study = make_study(interview_model="gpt-4o-mini", budget_cap_usd=Decimal("1.00"))
    to_interview(client, study)
    _spent(study, "1.50")

    say(client, study, "The AI should listen to her first.", token="t1", **HTMX)
    reply = Message.objects.get(role="assistant", status=Message.Status.PENDING)
    _, body = stream(client, url(study, "interview", "reply", reply.pk))

    assert [name for name, _ in events(body)][-1] == "done"
    reply.refresh_from_db()
    assert reply.status == Message.Status.COMPLETE and "Thank you. You said" in reply.content
    newest = LLMCall.objects.filter(study=study, stage="interview").order_by("pk").last()
    assert newest.model == "offline"
