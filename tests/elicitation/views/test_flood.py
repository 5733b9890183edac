"""The flood that once used a study's hourly LLM budget in 209 s: 490 fresh sessions from
one address. Sign-ups per address turn most of it away at the door; the allowance
reserved per admitted participant keeps the rest from starving anyone else."""

import pytest
from django.test import Client

from elicitation.models import LLMRequest, Participant
from elicitation.ratelimit import address_hash
from tests.helpers import ANSWERS, card_data, fresh, make_study, say, to_interview, url

pytestmark = pytest.mark.django_db
Step = Participant.Step

FLOOD_ADDRESS = "203.0.113.9"
SIGNUPS = 20
ALLOWANCE = 5


def _flood(study) -> tuple[int, int]:
    """490 sessions from one address agree; every admitted one then talks until refused.
    Returns (refused sign-ups, admitted bots)."""
    refused, bots = 0, []
    for _ in range(490):
        bot = Client(REMOTE_ADDR=FLOOD_ADDRESS)
        response = bot.post(url(study, "consent"), {"action": "agree"})
        if response.status_code == 429:
            assert int(response["Retry-After"]) > 0
            refused += 1
        else:
            assert response.status_code == 302
            bots.append(bot)
    for bot in bots:
        bot.post(url(study, "about"), {"action": "skip"})
        bot.post(url(study, "question"))
        for turn in range(ALLOWANCE + 3):  # more than their allowance
            if say(bot, study, f"Spam message number {turn}").status_code == 429:
                break
    return refused, len(bots)


def test_a_flood_from_one_address_leaves_a_real_participant_their_journey(settings):
    settings.LLM_ALLOWANCE_PER_PARTICIPANT = ALLOWANCE
    # The hourly budget holds exactly the flood's admitted share and one real participant.
    study = make_study(
        signups_per_address_hour=SIGNUPS,
        messages_per_minute=50,
        messages_per_hour_study=(SIGNUPS + 1) * ALLOWANCE,
    )
    refused, admitted = _flood(study)
    flood_hash = address_hash(FLOOD_ADDRESS)
    assert Participant.objects.filter(study=study, address_hash=flood_hash).count() <= SIGNUPS
    assert admitted <= SIGNUPS and refused == 490 - admitted
    assert LLMRequest.objects.filter(study=study).count() <= SIGNUPS * ALLOWANCE

    real = Client(REMOTE_ADDR="198.51.100.7")
    participant = to_interview(real, study)
    assert participant.address_hash not in ("", flood_hash, "198.51.100.7")
    for text in ANSWERS:
        response = say(real, study, text)
        assert response.status_code == 302, response.status_code
    response = real.post(url(study, "interview", "card"))
    assert response.status_code == 302, response.status_code
    response = real.post(url(study, "card"), card_data("submit"))
    assert response.status_code == 302, response.status_code
    assert fresh(participant).step not in (Step.INTERVIEW, Step.CARD)
    assert not LLMRequest.objects.filter(participant=participant).count() > ALLOWANCE


def test_a_refused_sign_up_is_a_clear_page_and_no_participant(settings):
    study = make_study(signups_per_address_hour=1)
    first = Client(REMOTE_ADDR=FLOOD_ADDRESS)
    assert first.post(url(study, "consent"), {"action": "agree"}).status_code == 302
    second = Client(REMOTE_ADDR=FLOOD_ADDRESS)
    response = second.post(url(study, "consent"), {"action": "agree"})
    assert response.status_code == 429
    assert 3000 < int(response["Retry-After"]) <= 3601
    assert "Too many people have started this study from your network" in response.text
    assert Participant.objects.filter(study=study).count() == 1
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert elsewhere.post(url(study, "consent"), {"action": "agree"}).status_code == 302
