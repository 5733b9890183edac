"""Rate limits per participant and per study, counted in the database."""

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from elicitation import llm, ratelimit, selectors
from elicitation.models import LLMRequest, Message, Participant
from elicitation.services import card, interview, participants, writing
from tests import factories
from tests.helpers import advance_to, fresh, make_study, start, talk

Step = Participant.Step

pytestmark = pytest.mark.django_db


@pytest.fixture
def participant():
    study = factories.StudyFactory(messages_per_minute=3, messages_per_hour_study=5)
    return factories.ParticipantFactory(study=study)


def test_it_counts_each_request(participant):
    ratelimit.consume(participant=participant, kind="message")
    request = LLMRequest.objects.get()
    assert (request.participant, request.study, request.kind) == (
        participant,
        participant.study,
        "message",
    )


def test_it_refuses_a_participant_over_the_minute_limit(participant):
    for _ in range(3):
        ratelimit.consume(participant=participant, kind="message")
    with pytest.raises(ratelimit.RateLimited) as limited:
        ratelimit.consume(participant=participant, kind="message")
    assert "wait a moment" in limited.value.message
    assert 1 <= limited.value.retry_after <= 61
    assert LLMRequest.objects.count() == 3


def test_the_minute_window_slides(participant):
    for _ in range(3):
        ratelimit.consume(participant=participant, kind="message")
    LLMRequest.objects.update(
        created_at=LLMRequest.objects.first().created_at - timedelta(minutes=2)
    )
    counted = ratelimit.consume(participant=participant, kind="message")
    assert counted.pk and LLMRequest.objects.filter(participant=participant).count() == 4


def test_other_participants_are_not_limited_by_one(participant):
    for _ in range(3):
        ratelimit.consume(participant=participant, kind="message")
    other = factories.ParticipantFactory(study=participant.study)
    counted = ratelimit.consume(participant=other, kind="message")
    assert counted.participant == other
    assert LLMRequest.objects.filter(participant=other).count() == 1


def test_it_refuses_everyone_once_the_study_hits_its_hourly_limit(participant):
    others = [factories.ParticipantFactory(study=participant.study) for _ in range(5)]
    for other in others:
        ratelimit.consume(participant=other, kind="message")
    with pytest.raises(ratelimit.RateLimited) as limited:
        ratelimit.consume(participant=participant, kind="message")
    assert "busy" in limited.value.message
    assert limited.value.retry_after > 60


def test_other_studies_do_not_count(participant):
    elsewhere = factories.ParticipantFactory()
    for _ in range(5):
        LLMRequest.objects.create(study=elsewhere.study, participant=elsewhere, kind="message")
    counted = ratelimit.consume(participant=participant, kind="message")
    assert counted.study == participant.study
    assert LLMRequest.objects.filter(study=participant.study).count() == 1


def test_zero_means_no_limit(participant):
    participant.study.messages_per_minute = 0
    participant.study.messages_per_hour_study = 0
    participant.study.save()
    for _ in range(10):
        ratelimit.consume(participant=participant, kind="message")
    assert LLMRequest.objects.filter(participant=participant).count() == 10


# ---------------------------------------------------------------------------------------
# Addresses and sign-ups
# ---------------------------------------------------------------------------------------


def test_an_address_is_kept_only_as_a_keyed_hash(settings):
    hashed = ratelimit.address_hash("203.0.113.9")
    assert hashed == ratelimit.address_hash("203.0.113.9") and len(hashed) == 64
    assert "203.0.113.9" not in hashed and hashed != ratelimit.address_hash("203.0.113.10")
    settings.SECRET_KEY = "another key"
    assert ratelimit.address_hash("203.0.113.9") != hashed
    assert ratelimit.address_hash("") == ""


def test_the_forwarded_address_counts_only_behind_a_proxy(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.9")
    settings.BEHIND_PROXY = False
    assert ratelimit.client_address(request) == "10.0.0.2"
    settings.BEHIND_PROXY = True
    # The last hop is the one our proxy appended; the first is whatever the client sent.
    assert ratelimit.client_address(request) == "203.0.113.9"
    assert ratelimit.client_address(rf.get("/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"


def _start(study, n, address="203.0.113.9", **options):
    return [
        participants.participant_start(
            study=study, session_key=uuid.uuid4().hex, address=address, **options
        )
        for _ in range(n)
    ]


def test_sign_ups_per_address_are_limited_and_the_refused_get_no_row():
    study = make_study(signups_per_address_hour=3)
    started = _start(study, 3)
    assert {p.address_hash for p in started} == {ratelimit.address_hash("203.0.113.9")}
    with pytest.raises(ratelimit.SignupRefused) as refused:
        _start(study, 1)
    assert "from your network" in refused.value.message
    assert 3500 < refused.value.retry_after <= 3601
    assert Participant.objects.filter(study=study).count() == 3
    assert len(_start(study, 1, address="198.51.100.7")) == 1  # another address is not held


def test_test_participants_are_exempt_and_not_counted_against_an_address():
    study = make_study(signups_per_address_hour=1)
    tests = _start(study, 3, is_test=True)
    assert all(p.is_test for p in tests)
    assert len(_start(study, 1)) == 1


def test_the_address_window_is_an_hour_and_zero_means_no_limit():
    study = make_study(signups_per_address_hour=1)
    _start(study, 1)
    Participant.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert len(_start(study, 1)) == 1
    study.signups_per_address_hour = 0
    study.save()
    assert len(_start(study, 5)) == 5


def _study_locks(study, **options) -> int:
    """Starts one participant; how many times the study row was locked for it."""
    with CaptureQueriesContext(connection) as queries:
        _start(study, 1, address="192.0.2.44", **options)
    return sum(1 for q in queries if "FOR UPDATE" in q["sql"] and '"elicitation_study"' in q["sql"])


def test_starts_far_from_every_limit_leave_the_study_row_alone(settings):
    # Hundreds of people arriving at once must not queue on one row.
    settings.LLM_ALLOWANCE_PER_PARTICIPANT = 5
    study = make_study(signups_per_address_hour=1000, messages_per_hour_study=100_000)
    assert _study_locks(study) == 0


def test_starts_near_a_limit_are_counted_one_at_a_time_on_the_study_row(settings):
    settings.LLM_ALLOWANCE_PER_PARTICIPANT = 5
    near_budget = make_study(signups_per_address_hour=0, messages_per_hour_study=5 * 40)
    assert _study_locks(near_budget) == 1  # within ADMISSION_MARGIN starts of the budget
    near_address = make_study(signups_per_address_hour=ratelimit.ADDRESS_MARGIN)
    assert _study_locks(near_address) == 1
    # Test participants are never turned away: nothing to count.
    assert _study_locks(near_address, is_test=True) == 0


# ---------------------------------------------------------------------------------------
# The allowance reserved for each admitted participant
# ---------------------------------------------------------------------------------------


@pytest.fixture
def small_budget(settings):
    """A study whose hourly budget holds two participants' allowance of 5."""
    settings.LLM_ALLOWANCE_PER_PARTICIPANT = 5
    return make_study(signups_per_address_hour=0, messages_per_hour_study=10)


def test_newcomers_are_admitted_only_while_their_allowance_can_be_reserved(small_budget):
    first, second = _start(small_budget, 2)
    assert ratelimit.committed(small_budget) == 10
    with pytest.raises(ratelimit.SignupRefused) as refused:
        _start(small_budget, 1)
    assert "full for the moment" in refused.value.message and refused.value.retry_after > 0
    # Those inside can still use all of their allowance.
    for participant in (first, second):
        for _ in range(5):
            ratelimit.consume(participant=participant, kind="message")
    assert LLMRequest.objects.count() == 10


def test_a_participant_may_not_go_past_their_hourly_allowance(small_budget):
    (participant,) = _start(small_budget, 1)
    for _ in range(5):
        ratelimit.consume(participant=participant, kind="message")
    with pytest.raises(ratelimit.RateLimited) as limited:
        ratelimit.consume(participant=participant, kind="message")
    assert "in the last hour" in limited.value.message
    assert limited.value.retry_after > 60


@pytest.mark.parametrize("how", ["done", "abandoned", "screened_out", "past_the_card"])
def test_a_reservation_ends_when_the_participant_is_done_or_abandoned(small_budget, how):
    first, second = _start(small_budget, 2)
    changes = {
        "done": {"step": Step.DONE, "completed_at": timezone.now()},
        "abandoned": {"abandoned_at": timezone.now()},
        "screened_out": {"screened_out_at": timezone.now()},
        "past_the_card": {"step": Step.JUDGMENTS},
    }[how]
    Participant.objects.filter(pk=first.pk).update(**changes)
    assert ratelimit.committed(small_budget) == 5
    assert len(_start(small_budget, 1)) == 1
    with pytest.raises(ratelimit.SignupRefused):
        _start(small_budget, 1)


def test_holding_one_participant_agrees_with_the_holders_query(small_budget):
    now = timezone.now()
    states = [
        {},
        {"step": Step.CARD},
        {"step": Step.JUDGMENTS},
        {"step": Step.DONE, "completed_at": now},
        {"abandoned_at": now},
        {"screened_out_at": now},
        {"is_test": True},
        {"step": Step.ABOUT, "abandoned_at": now},
    ]
    people = [factories.ParticipantFactory(study=small_budget, **state) for state in states]
    held = set(ratelimit.holders(small_budget).values_list("pk", flat=True))
    assert {p.pk for p in people if ratelimit.holds(fresh(p))} == held
    assert 0 < len(held) < len(people)


def test_the_usage_counts_are_one_query_with_each_window(participant):
    other = factories.ParticipantFactory(study=participant.study)
    LLMRequest.objects.create(participant=participant, study=participant.study, kind="message")
    old = LLMRequest.objects.create(
        participant=participant, study=participant.study, kind="message"
    )
    LLMRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    LLMRequest.objects.create(participant=other, study=participant.study, kind="message")
    gone = LLMRequest.objects.create(participant=other, study=participant.study, kind="message")
    LLMRequest.objects.filter(pk=gone.pk).update(created_at=timezone.now() - timedelta(hours=2))
    with CaptureQueriesContext(connection) as queries:
        usage = ratelimit._usage(participant, timezone.now())
    assert usage == (1, 2, 3) and len(queries) == 1


def test_used_requests_count_for_the_hour_after_the_reservation_ends(small_budget):
    first, second = _start(small_budget, 2)
    ratelimit.consume(participant=first, kind="message")
    Participant.objects.filter(pk=first.pk).update(step=Step.DONE, completed_at=timezone.now())
    assert ratelimit.committed(small_budget) == 1 + 5
    with pytest.raises(ratelimit.SignupRefused):
        _start(small_budget, 1)
    LLMRequest.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert len(_start(small_budget, 1)) == 1


def test_someone_without_a_reservation_spends_only_what_no_holder_is_promised(small_budget):
    holder, gone, other = _start(small_budget, 3, is_test=True)
    Participant.objects.filter(pk__in=[gone.pk, other.pk]).update(abandoned_at=timezone.now())
    for _ in range(3):
        ratelimit.consume(participant=gone, kind="message")
    for _ in range(2):
        ratelimit.consume(participant=other, kind="message")
    with pytest.raises(ratelimit.RateLimited) as limited:
        ratelimit.consume(participant=other, kind="message")  # would eat into the holder's
    assert "very busy" in limited.value.message
    for _ in range(5):
        ratelimit.consume(participant=holder, kind="message")


# ---------------------------------------------------------------------------------------
# Failed calls are given back
# ---------------------------------------------------------------------------------------


@pytest.fixture
def interviewing(fast_llm):
    return advance_to(start(make_study()), Step.INTERVIEW)


def test_a_failed_card_draft_does_not_count(interviewing, monkeypatch):
    talk(interviewing)
    before = LLMRequest.objects.count()
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "articulate:timeout")
    with pytest.raises(llm.LLMError):
        card.card_draft(participant=fresh(interviewing))
    assert LLMRequest.objects.count() == before
    monkeypatch.delenv("LLM_OFFLINE_FAULT")
    card.card_draft(participant=fresh(interviewing))
    assert LLMRequest.objects.filter(kind="articulate").count() == 1


def test_a_failed_revision_does_not_count(interviewing, monkeypatch):
    participant = advance_to(interviewing, Step.CARD)
    draft = selectors.draft_card(participant)
    before = LLMRequest.objects.count()
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "revise:ratelimit")
    with pytest.raises(llm.LLMError):
        card.card_revise(
            participant=fresh(participant),
            request="shorter",
            title=draft.title,
            description=draft.description,
            policies=draft.policies,
        )
    assert LLMRequest.objects.count() == before


def test_a_failed_reply_does_not_count(interviewing, monkeypatch):
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "interview:servererror")
    exchange = interview.message_send(participant=interviewing, content="Hello")
    assert LLMRequest.objects.filter(participant=interviewing).count() == 1
    with pytest.raises(llm.LLMError):
        interview.reply_generate(participant=fresh(interviewing), reply=exchange.reply)
    assert LLMRequest.objects.filter(participant=interviewing).count() == 0


def test_a_failed_streamed_reply_does_not_count(interviewing, monkeypatch):
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "interview:timeout")
    exchange = interview.message_send(participant=interviewing, content="Hello")

    async def read():
        async for _ in interview.reply_stream(participant=interviewing, reply=exchange.reply):
            pass

    with pytest.raises(llm.LLMError):
        async_to_sync(read)()
    async_to_sync(writing.finished)(exchange.reply.pk)
    assert Message.objects.get(pk=exchange.reply.pk).status == Message.Status.FAILED
    assert LLMRequest.objects.filter(participant=interviewing).count() == 0
