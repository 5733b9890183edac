"""Helpers shared by test modules (test modules never import each other).

The journey: a study with values and stories to draw, and a participant moved to any
step through the real services. Every text here is invented."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.test import AsyncClient

from elicitation import selectors
from elicitation.models import JudgmentAssignment, Participant, Question, Study, ValuesCard
from elicitation.services import about, card, interview, judgments, participants, selection, survey
from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value
from tests import factories

Step = Participant.Step

ANSWERS = [
    "I think the AI should listen to her first and not rush her.",
    "When my sister faced a choice like this, our family sat with her for hours.",
    "I paid attention to her feelings of being pressured and to the people she trusted.",
]


def make_study(**fields) -> Study:
    """An open study with one question."""
    study = factories.StudyFactory(**fields)
    factories.QuestionFactory(study=study, key="main", title="Main question")
    return study


def seed_values(question: Question, n: int, *, prefix: str = "Seeded") -> list[Value]:
    """``n`` values for ``question``, each with the submitted card it came from."""
    values = []
    for i in range(n):
        submitted = ValuesCard.objects.create(
            study=question.study,
            question=question,
            title=f"{prefix} Value {i}",
            description=f"Attending to thing {i}.",
            policies=[f"THING {i} one", f"THING {i} two", f"THING {i} three"],
            status=ValuesCard.Status.SUBMITTED,
            reconcile_status=ValuesCard.Reconcile.DONE,
        )
        value = Value.objects.create(
            study=question.study,
            title=submitted.title,
            description=submitted.description,
            policies=submitted.policies,
            representative_card=submitted,
        )
        CardMapping.objects.create(card=submitted, value=value)
        values.append(value)
    return values


def seed_stories(
    study: Study, values: list[Value], *, question: Question | None = None, both_ways=True
) -> list[UpgradeHypothesis]:
    """Upgrade stories on consecutive pairs of ``values``, in both directions by default."""
    context = Context.objects.create(study=study, text=f"When testing {Context.objects.count()}")
    if question is not None:
        context.questions.add(question)
    stories = []
    for a, b in zip(values, values[1:], strict=False):
        stories.append(
            UpgradeHypothesis.objects.create(
                study=study, from_value=a, to_value=b, context=context, story=f"{a} to {b}."
            )
        )
        if both_ways:
            stories.append(
                UpgradeHypothesis.objects.create(
                    study=study,
                    from_value=b,
                    to_value=a,
                    context=context,
                    story=f"{b} to {a}.",
                    direction=UpgradeHypothesis.Direction.REVERSE,
                )
            )
    return stories


def start(study: Study, *, pid: str = "", session_key: str = "session") -> Participant:
    return participants.participant_start(study=study, session_key=session_key, recruiter_pid=pid)


def fresh(participant: Participant) -> Participant:
    return Participant.objects.select_related("study", "question").get(pk=participant.pk)


def talk(participant: Participant, answers=ANSWERS) -> None:
    """Send answers and write each reply in one piece (the path without JavaScript)."""
    for i, text in enumerate(answers):
        exchange = interview.message_send(
            participant=fresh(participant), content=text, client_token=f"t{i}-{text[:8]}"
        )
        interview.reply_generate(participant=fresh(participant), reply=exchange.reply)


def advance_to(participant: Participant, step: str) -> Participant:
    """Move a participant through the real services until they reach ``step``."""
    for _ in range(12):
        participant = fresh(participant)
        if participant.step == step:
            return participant
        current = participant.step
        if current == Step.ABOUT:
            about.demographics_save(
                participant=participant, answers={"political_affiliation": "other"}
            )
        elif current == Step.QUESTION:
            interview.question_begin(participant=participant)
        elif current == Step.INTERVIEW:
            talk(participant)
            card.card_draft(participant=fresh(participant))
        elif current == Step.CARD:
            draft = selectors.draft_card(participant)
            card.card_submit(
                participant=participant,
                title=draft.title,
                description=draft.description,
                policies=draft.policies,
            )
        elif current == Step.SELECTION:
            shown = [value.pk for value in selectors.shown_values(participant)]
            selection.selection_submit(
                participant=participant, value_ids=shown[: participant.study.min_selections]
            )
        elif current == Step.JUDGMENTS:
            for assignment in selectors.open_assignments(participant):
                judgments.judgment_record(
                    participant=fresh(participant),
                    hypothesis_id=assignment.hypothesis_id,
                    verdict="upgrade",
                )
        elif current == Step.SURVEY:
            survey.survey_save(participant=participant)
        else:
            break
    participant = fresh(participant)
    assert participant.step == step, f"stuck at {participant.step}, wanted {step}"
    return participant


def own_value(participant: Participant) -> Value:
    """A value made from the participant's submitted card, their card mapped to it."""
    submitted = selectors.submitted_card(participant)
    value = Value.objects.create(
        study=participant.study,
        title=submitted.title,
        description=submitted.description,
        policies=submitted.policies,
    )
    CardMapping.objects.create(card=submitted, value=value)
    return value


# --- Through the test client --------------------------------------------------------------

HTMX = {"HTTP_HX_REQUEST": "true"}
BOOSTED = {"HTTP_HX_REQUEST": "true", "HTTP_HX_BOOSTED": "true", "HTTP_HX_TARGET": "step"}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def url(study, step="entry", *args):
    return (
        f"/s/{study.slug}/"
        + ("" if step == "entry" else f"{step}/")
        + "".join(f"{a}/" for a in args)
    )


def participant_of(client, study) -> Participant:
    public_id = client.session[f"mge.participant.{study.pk}"]
    return Participant.objects.get(public_id=public_id)


def agree(client, study, query="") -> Participant:
    client.get(url(study) + query)
    response = client.post(url(study, "consent"), {"action": "agree"})
    assert response.status_code == 302
    return participant_of(client, study)


def to_interview(client, study) -> Participant:
    participant = agree(client, study)
    if participant.step == Step.ABOUT:
        client.post(url(study, "about"), {"action": "skip"})
    client.post(url(study, "question"))
    participant = fresh(participant)
    assert participant.step == Step.INTERVIEW
    return participant


def say(client, study, text, token=None, **extra):
    data = {"content": text, "client_token": token or f"t-{hash(text)}"}
    return client.post(url(study, "interview"), data, **extra)


def to_card(client, study) -> Participant:
    participant = to_interview(client, study)
    for text in ANSWERS:
        say(client, study, text)
    assert client.post(url(study, "interview", "card")).status_code == 302
    return fresh(participant)


def card_data(action="save", **change):
    data = {
        "title": "Patient Listening",
        "description": "Giving her time.",
        "policies": ["MOMENTS of silence", "FEELINGS she names", "PEOPLE she trusts"],
        "action": action,
    }
    data.update(change)
    return data


def stream(client, path):
    """GET an SSE URL with an async client sharing ``client``'s session."""

    async def go():
        async_client = AsyncClient()
        async_client.cookies = client.cookies
        response = await async_client.get(path)
        if not response.streaming:
            return response, response.content.decode()
        parts = [
            chunk.decode() if isinstance(chunk, bytes) else chunk
            async for chunk in response.streaming_content
        ]
        return response, "".join(parts)

    return async_to_sync(go)()


def events(body: str) -> list[tuple[str, str]]:
    found = []
    for block in body.split("\n\n"):
        lines = block.split("\n")
        name = next((line[7:] for line in lines if line.startswith("event: ")), None)
        if name:
            data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
            found.append((name, data))
    return found


def to_selection(client, study):
    participant = to_card(client, study)
    client.post(url(study, "card"), card_data("submit"))
    participant = fresh(participant)
    assert participant.step == Step.SELECTION
    return participant


def to_judgments(client, study):
    participant = to_selection(client, study)
    client.post(url(study, "selection"), {})
    participant = fresh(participant)
    assert participant.step == Step.JUDGMENTS
    return participant


def to_survey(client, study):
    participant = to_judgments(client, study)
    for assignment in JudgmentAssignment.objects.filter(participant=participant):
        client.post(
            url(study, "judgments"), {"hypothesis": assignment.hypothesis_id, "verdict": "upgrade"}
        )
    participant = fresh(participant)
    assert participant.step == Step.SURVEY
    return participant
