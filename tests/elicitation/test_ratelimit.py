"""Rate limits per participant and per study, counted in the database."""

from datetime import timedelta

import pytest

from elicitation import ratelimit
from elicitation.models import LLMRequest
from tests import factories

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
