"""A whole reconcile pass, its report, the lock, and the admin's split and retry."""

import threading

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from elicitation.models import LLMCall, Message, ValuesCard
from moralgraph import locks, services
from moralgraph.models import (
    CardMapping,
    Context,
    HypothesisRun,
    UpgradeHypothesis,
    Value,
    ValueMerge,
)
from tests.factories import (
    InterviewFactory,
    ParticipantFactory,
    QuestionFactory,
    StudyFactory,
    ValuesCardFactory,
)

pytestmark = pytest.mark.django_db

ABORTION = "I am a Christian girl and am considering getting an abortion. What should I do?"
CARDS = [
    (
        "Informed Autonomy",
        [
            "FEELINGS of being pressured that might cloud her judgement",
            "OPTIONS she has not yet considered",
            "PEOPLE who have faced the same choice",
        ],
    ),
    (
        "Autonomy Informed",
        [
            "FEELINGS of pressure that could cloud her judgement",
            "OPTIONS she has not considered yet",
            "PEOPLE who faced the same choice before",
        ],
    ),
    (
        "Faithful Discernment",
        [
            "PRAYER and the guidance of her faith community",
            "SCRIPTURE passages that speak to her situation",
            "CONVERSATIONS with a pastor she trusts",
        ],
    ),
    (
        "Family Support",
        ["PARENTS who could support her", "SIBLINGS she confides in", "HOME and its safety"],
    ),
]


def make_study(cards=CARDS):
    study = StudyFactory()
    question = QuestionFactory(study=study, text=ABORTION)
    for title, policies in cards:
        interview = InterviewFactory(participant=ParticipantFactory(study=study), question=question)
        Message.objects.create(interview=interview, seq=0, role="assistant", content="Hi")
        Message.objects.create(
            interview=interview, seq=1, role="user", content="She may feel scared and pressured."
        )
        ValuesCardFactory(
            interview=interview,
            title=title,
            policies=policies,
            status=ValuesCard.Status.SUBMITTED,
            submitted_at=timezone.now(),
        )
    return study


def snapshot_state(study):
    return {
        "values": sorted(Value.objects.filter(study=study).values_list("id", "is_active")),
        "mappings": sorted(
            CardMapping.objects.filter(card__study=study).values_list("card_id", "value_id")
        ),
        "merges": ValueMerge.objects.filter(study=study).count(),
        "contexts": sorted(Context.objects.filter(study=study).values_list("id", "duplicate_of")),
        "stories": sorted(
            UpgradeHypothesis.objects.filter(study=study).values_list(
                "from_value_id", "to_value_id", "context_id"
            )
        ),
        "cards": sorted(
            ValuesCard.objects.filter(study=study).values_list("id", "reconcile_status")
        ),
    }


def test_a_pass_runs_every_step_and_reports_it():
    study = make_study()

    report = services.reconcile_study(study=study)

    assert report.cards_embedded == 4
    assert report.cards_placed == 4
    assert report.merges == 1
    assert report.new_values == 3
    assert Value.objects.filter(study=study, is_active=True).count() == 3
    assert report.contexts_created == Context.objects.filter(study=study).count() > 0
    assert report.interviews_read == 4
    assert report.hypotheses == UpgradeHypothesis.objects.filter(study=study).count() > 0
    assert report.llm_calls == LLMCall.objects.filter(study=study).count()
    assert report.llm_calls == (
        report.judge_calls + 1 + 4 + report.hypotheses
    )  # dedup + question contexts + interview contexts + stories (no context was a duplicate)
    assert report.llm_cost == 0
    assert 0 < report.calls_per_card <= 4
    # Every story pairs values of the question, in one of its contexts.
    for story in UpgradeHypothesis.objects.filter(study=study):
        assert story.from_value.is_active and story.to_value.is_active
        assert story.context.questions.filter(pk=study.questions.get().pk).exists()


def test_a_second_pass_changes_nothing():
    study = make_study()
    services.reconcile_study(study=study)
    before = snapshot_state(study)
    calls = LLMCall.objects.count()

    report = services.reconcile_study(study=study)

    assert snapshot_state(study) == before
    assert LLMCall.objects.count() == calls
    assert report.llm_calls == 0
    assert HypothesisRun.objects.filter(study=study).count() == 1


def test_a_card_submitted_later_only_adds_to_the_graph():
    study = make_study(CARDS[:3])
    services.reconcile_study(study=study)
    before = snapshot_state(study)

    make_more = CARDS[3]
    interview = InterviewFactory(
        participant=ParticipantFactory(study=study), question=study.questions.get()
    )
    ValuesCardFactory(
        interview=interview,
        title=make_more[0],
        policies=make_more[1],
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now(),
    )
    report = services.reconcile_study(study=study)

    after = snapshot_state(study)
    assert set(before["stories"]) < set(after["stories"])
    assert set(before["values"]) < set(after["values"])
    assert report.cards_placed == 1


def test_a_study_held_by_another_process_is_busy():
    study = StudyFactory()
    held, release = threading.Event(), threading.Event()

    def hold():
        with locks.study_lock(study.pk):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(services.StudyBusy):
            services.reconcile_study(study=study, wait=False)
    finally:
        release.set()
        thread.join()
    services.reconcile_study(study=study, wait=False)


def test_retrying_failed_cards_queues_them_again(django_capture_on_commit_callbacks):
    study = make_study(CARDS[:2])
    failed = ValuesCard.objects.filter(study=study).first()
    ValuesCard.objects.filter(pk=failed.pk).update(
        reconcile_status=ValuesCard.Reconcile.FAILED, reconcile_error="boom", reconcile_attempts=5
    )

    with django_capture_on_commit_callbacks() as callbacks:
        count = services.retry_failed_cards(ValuesCard.objects.filter(study=study))

    assert count == 1
    assert len(callbacks) == 1
    failed.refresh_from_db()
    assert failed.reconcile_status == ValuesCard.Reconcile.PENDING
    assert (failed.reconcile_error, failed.reconcile_attempts) == ("", 0)


def test_a_split_schedules_scoring(django_capture_on_commit_callbacks, monkeypatch):
    from moralgraph import tasks

    scheduled = []
    monkeypatch.setattr(tasks, "schedule_score", lambda study_id: scheduled.append(study_id))
    study = make_study(CARDS[:2])
    services.reconcile_study(study=study)
    merge = ValueMerge.objects.get(study=study)

    with django_capture_on_commit_callbacks(execute=True):
        services.split_merge(merge=merge)

    assert scheduled == [study.pk]
    study.refresh_from_db()
    assert study.graph_changed_at is not None


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("admin", "admin@example.invalid", "pw-for-tests")
    client.force_login(user)
    return client


def test_the_admin_splits_a_merge(admin_client, monkeypatch):
    from moralgraph import tasks

    monkeypatch.setattr(tasks, "schedule_score", lambda study_id: None)
    study = make_study(CARDS[:2])
    services.reconcile_study(study=study)
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


def test_the_admin_retries_failed_cards(admin_client, monkeypatch):
    from moralgraph import tasks

    monkeypatch.setattr(tasks.process_card, "delay", lambda card_id: None)
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
