"""The LLM pre-screen of a submitted card: likely junk (off-topic, a joke, abuse, next to
nothing) gets a flag with the reason, which puts it first on the moderation page.

It never hides anything: a researcher decides (moralgraph.services.moderation). A card
already flagged or already hidden is not asked about again; an unflagged card asked
twice (a redelivered message) gets the same question and the same field written.
"""

from __future__ import annotations

from elicitation import llm
from elicitation.models import Message, ValuesCard

# The participant's own words sent with the card, at most this many characters.
SAID_CHARS = 4000


def screen_card(*, card_id: int) -> str | None:
    """Ask the ``screen`` stage about one submitted card; the flag written, or None."""
    card = (
        ValuesCard.objects.select_related("study", "question")
        .filter(pk=card_id, status=ValuesCard.Status.SUBMITTED, hidden_at=None, screen_flag="")
        .first()
    )
    if card is None:
        return None
    said = " ".join(
        Message.objects.filter(interview_id=card.interview_id, role=Message.Role.USER)
        .order_by("seq")
        .values_list("content", flat=True)
    )[:SAID_CHARS]
    payload = {
        "question": card.question.text if card.question else "",
        "card": {
            "title": card.title,
            "description": card.description,
            "policies": list(card.policies or []),
        },
        "said": said if card.interview_id else "",
    }
    reply = llm.structured(
        stage="screen",
        prompt=llm.load_prompt("moralgraph/screen"),
        payload=payload,
        study=card.study,
    )
    if not reply["junk"]:
        return None
    flag = (reply.get("reason") or "").strip()[:300] or "Flagged by the pre-screen."
    ValuesCard.objects.filter(pk=card.pk, screen_flag="").update(screen_flag=flag)
    return flag
