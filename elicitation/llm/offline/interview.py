"""Stage interview: the interviewer's next turn, following the reference's steps
(how should the AI respond, a story from your life, what did you attend to) and
steering rules and goals towards attention."""

from __future__ import annotations

import re

from elicitation.llm.offline.messages import is_injection
from elicitation.llm.offline.text import RULE_RE, plain, sounds_like_rule_or_goal

MAX_QUOTE_WORDS = 12
SEE_MY_CARD = "See my card"

_QUESTION_LINE_RE = re.compile(r"^\s*Question:\s*(.+?)\s*$", re.M)

_STEP_QUESTIONS = (
    "How do you think the AI should respond to this message?",
    "Could you tell me about a time in your own life when you faced or saw a choice "
    "like this, and it went well?",
    "In that moment, what did you pay attention to: what felt meaningful, what did you "
    "notice, not the rules or goals, but the things you were actually looking at?",
    "What else do you pay attention to when you make a choice like this well?",
)

_STEP_RECAPS = (
    "We were just starting, with how you think the AI should respond.",
    "You had shared how you think the AI should respond, and I had asked for an example "
    "from your own life.",
    "You had just shared an example from your own life.",
    "We were exploring what you pay attention to when you make a choice like this.",
)


def _quote(text: str) -> str:
    """A short phrase of the participant's, at most ``MAX_QUOTE_WORDS`` words."""
    pieces = [f.strip() for f in re.split(r"[.!?;:,\n]+", plain(text)) if f.strip()]
    if not pieces:
        return ""
    chosen = next((f for f in pieces if len(f.split()) >= 3), pieces[0])
    words = chosen.replace('"', "'").split()[:MAX_QUOTE_WORDS]
    return " ".join(words).strip(" -'")


def reply(messages: list[tuple[str, str]]) -> str:
    """The interviewer's next turn; the question comes from the system prompt's
    "Question: ..." line."""
    question = None
    for role, text in messages:
        if role == "system":
            match = _QUESTION_LINE_RE.search(text)
            if match:
                question = plain(match.group(1))
                break

    user_turns = [plain(text) for role, text in messages if role == "user"]
    last_is_user = bool(messages) and messages[-1][0] == "user"
    previous = user_turns[:-1] if last_is_user else user_turns
    # Off-task and empty turns don't move the interview on: the step is how many real
    # answers the participant has given.
    genuine = [t for t in previous if t and not is_injection(t)]
    step = len(genuine)

    if not last_is_user:
        return _ask(step, genuine, question)

    last = user_turns[-1]
    if not last:
        return (
            "It looks like that message was empty. Could you say a little more? "
            f"{_STEP_QUESTIONS[min(step, 3)]}"
        )
    if is_injection(last):
        return (
            "I'm here to help you think about the question, so I'll stay with that. "
            f"{_STEP_RECAPS[min(step, 3)]} {_STEP_QUESTIONS[min(step, 3)]}"
        )
    return _ask(step + 1, [*genuine, last], question)


def _ask(step: int, genuine: list[str], question: str | None) -> str:
    """The interviewer's turn after ``step`` genuine answers, the last in ``genuine``."""
    if step == 0:
        seed = (
            f'Imagine someone sent this message to an AI: "{question}"'
            if question
            else "Imagine someone sent an AI a message asking for help with a hard choice."
        )
        return (
            f"Hi, and thank you for taking part. {seed} You're answering as yourself here: "
            "tell me what a wise response would pay attention to. "
            f"{_STEP_QUESTIONS[0]}"
        )
    last = genuine[-1]
    if step == 1:
        quote = _quote(last)
        reflect = f'Thank you. You said "{quote}", which helps me see where you stand.'
        return f"{reflect} {_STEP_QUESTIONS[1]}"
    if step == 2:
        return f"Thank you for sharing that. {_STEP_QUESTIONS[2]}"
    quote = _quote(last)
    if sounds_like_rule_or_goal(last):
        kind = "a rule" if RULE_RE.search(last) else "a goal"
        steer = _STEERS[(step - 3) % len(_STEERS)]
        return steer.format(quote=quote, kind=kind)
    if step == 3:
        return (
            f'Thank you, that\'s clear: you pay attention to things like "{quote}". '
            "I think I have enough to draft a values card: you can press "
            f'"{SEE_MY_CARD}" to see it, or keep talking if there is more to add.'
        )
    # Later turns: a different question each time, each picking up their last words.
    follow_up = _FOLLOW_UPS[(step - 4) % len(_FOLLOW_UPS)]
    return follow_up.format(quote=quote, card=SEE_MY_CARD)


# After the card is offered, each turn asks something new about what they attend to, so
# that a participant who keeps talking is never asked the same thing twice in a row of six.
_FOLLOW_UPS = (
    'You mentioned "{quote}". What is it about that that matters to you: what would you '
    "notice first, if it were there or if it were missing?",
    'Is there a moment when paying attention to "{quote}" would be too much, or beside '
    "the point? What would you look at instead then?",
    'Imagine a friend of yours in this situation. Besides "{quote}", what else would you '
    "want to notice about how they are doing?",
    "Is there something about the person who wrote the message, their life or the people "
    'around them, that you would want the AI to notice? You said "{quote}": what else?',
    "That helps, thank you. If a wise answer could keep only one thing in view, would it be "
    '"{quote}", or something else you have noticed?',
    'Your card will be drafted from all of this, in your own words, including "{quote}". '
    'Is there anything you would add or correct first? When you are ready, press "{card}".',
)

# Steering a rule or a goal towards attention, worded differently each time it comes up.
_STEERS = (
    'When you say "{quote}", that sounds a bit like {kind}, and rules and goals usually '
    "rest on something we care about. When you imagine that going well, what do you pay "
    "attention to that makes it feel right?",
    '"{quote}" sounds like {kind} to me. Rules and goals come from somewhere: what would '
    "you pay attention to, in the moment, that tells you it is the right thing to do?",
    'I hear {kind} in "{quote}". Underneath it, what do you pay attention to in the person '
    "or the situation that makes it matter to you?",
    'Let me ask about "{quote}", which sounds like {kind}. Think of a time it went well: '
    "what did you pay attention to then?",
    'If you had to explain "{quote}" without {kind}, by what you pay attention to, what '
    "would you point to?",
    '"{quote}" is {kind} worth taking seriously. What do you pay attention to that would '
    "tell you, in one particular case, whether it fits?",
)
