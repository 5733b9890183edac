"""The order of a participant's steps, which of them a study turns on, and how far along
a participant is ("step 3 of 8, about 9 minutes left").

Pure functions of a Study's settings: no queries, so every page can call them freely.
Whether a step has anything to show (enough values to select from, stories to judge)
is decided when the participant reaches it, by the step's drawer: the graph side
registers one per drawn step in its app config (elicitation never imports it), and
services.participants.enter skips a step whose drawer drew nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from django.urls import reverse

from elicitation.models import Participant, Study

CONSENT = "consent"
Step = Participant.Step

# Every step in journey order. Consent comes first but is not a Participant.step: a
# participant row exists only once somebody has agreed.
ORDER: tuple[str, ...] = (
    CONSENT,
    Step.ABOUT,
    Step.QUESTION,
    Step.INTERVIEW,
    Step.CARD,
    Step.SELECTION,
    Step.JUDGMENTS,
    Step.SURVEY,
    Step.DONE,
)

LABELS = {CONSENT: "Consent", **{step.value: step.label for step in Step}}

# Relative effort of each step. The reference advertised 15 minutes and took a median of
# 21.6, mostly in the interview, so the interview carries the most weight here.
_WEIGHTS = {
    CONSENT: 1.0,
    Step.ABOUT: 1.0,
    Step.QUESTION: 1.0,
    Step.INTERVIEW: 6.0,
    Step.CARD: 2.0,
    Step.SELECTION: 2.0,
    Step.SURVEY: 1.0,
    Step.DONE: 0.0,
}
_WEIGHT_PER_JUDGMENT = 1.0

_URL_NAMES = {
    CONSENT: "elicitation:consent",
    Step.ABOUT: "elicitation:about",
    Step.QUESTION: "elicitation:question",
    Step.INTERVIEW: "elicitation:interview",
    Step.CARD: "elicitation:card",
    Step.SELECTION: "elicitation:selection",
    Step.JUDGMENTS: "elicitation:judgments",
    Step.SURVEY: "elicitation:survey",
    Step.DONE: "elicitation:done",
}


# Steps that show the participant something drawn for them from the graph.
DRAWN_STEPS: tuple[str, ...] = (Step.SELECTION, Step.JUDGMENTS)

# A drawer prepares a drawn step for a participant (once: later calls find the draw made)
# and says whether there is anything to show. Called inside the transaction holding the
# participant's lock.
StepDrawer = Callable[[Participant], bool]
_drawers: dict[str, StepDrawer] = {}


def register_step_drawer(step: str, drawer: StepDrawer) -> None:
    """Make ``drawer`` the one that prepares ``step`` (registering again replaces it)."""
    if step not in DRAWN_STEPS:
        raise ValueError(f"{step!r} is not a drawn step; drawn steps are {DRAWN_STEPS}")
    _drawers[step] = drawer


def draw_step(participant: Participant, step: str) -> bool:
    """Prepare ``step`` for the participant; False when it has nothing to show and is
    to be skipped. A drawn step without a drawer has nothing to show."""
    if step not in DRAWN_STEPS:
        return True
    drawer = _drawers.get(step)
    return drawer is not None and bool(drawer(participant))


def is_enabled(study: Study, step: str) -> bool:
    if step == Step.ABOUT:
        return study.demographics_enabled
    if step == Step.SELECTION:
        return study.selection_enabled and study.selection_count > 0
    if step == Step.JUDGMENTS:
        return study.judgments_enabled and study.judgment_count > 0
    if step == Step.SURVEY:
        return study.survey_enabled
    return step in ORDER


def steps_for(study: Study) -> list[str]:
    """The steps this study runs, in order, consent first and done last."""
    return [step for step in ORDER if is_enabled(study, step)]


def next_step(study: Study, current: str) -> str:
    """The enabled step after ``current`` (done stays done)."""
    steps = steps_for(study)
    if current not in steps:
        # A step the study turned off while somebody was on it: continue from its place.
        later = ORDER[ORDER.index(current) + 1 :]
        return next(step for step in later if step in steps)
    index = steps.index(current)
    return steps[min(index + 1, len(steps) - 1)]


def first_step(study: Study) -> str:
    """Where a participant starts once they have agreed."""
    return next_step(study, CONSENT)


def url_for(study: Study, step: str) -> str:
    return reverse(_URL_NAMES[step], args=[study.slug])


def _weight(study: Study, step: str) -> float:
    if step == Step.JUDGMENTS:
        return _WEIGHT_PER_JUDGMENT * study.judgment_count
    return _WEIGHTS[step]


@dataclass(frozen=True)
class Progress:
    number: int  # 1-based position of the current step
    total: int  # steps a participant works through (done is not one)
    label: str
    minutes_left: int
    percent: int
    finished: bool


def progress(study: Study, step: str, *, skipped: Iterable[str] = ()) -> Progress:
    """Where ``step`` sits among the steps this participant goes through, and a rough
    time left from the study's estimate.

    Drawn steps the participant was passed over (``skipped``, nothing to draw) are left
    out of the count, so the number only ever moves on by one: a participant who skips
    selection and judgments goes from "step 5 of 8" to "step 6 of 6", not to "8 of 8".
    """
    skipped = set(skipped)
    steps = [s for s in steps_for(study) if s != Step.DONE and s not in skipped]
    if step == Step.DONE:
        return Progress(len(steps), len(steps), LABELS[step], 0, 100, True)
    if step not in steps:
        step = next_step(study, step)
        while step in skipped:
            step = next_step(study, step)
        if step == Step.DONE:
            return progress(study, step, skipped=skipped)
    index = steps.index(step)
    weights = [_weight(study, s) for s in steps]
    total = sum(weights) or 1.0
    remaining = sum(weights[index:])
    # The estimate is for every step: a skipped one shortens the time left, not the pace.
    everything = sum(_weight(study, s) for s in steps_for(study) if s != Step.DONE) or 1.0
    minutes = max(1, round(study.estimated_minutes * remaining / everything))
    percent = round(100 * sum(weights[:index]) / total)
    return Progress(index + 1, len(steps), LABELS[step], minutes, percent, False)


def can_view(current: str, page: str) -> bool:
    """Whether a participant on step ``current`` may open the page of step ``page``.

    Only the current step, with one way back: from their draft card to the conversation,
    to keep talking; and, once submitted, their card (read-only, saying so: the back
    button after a submit must not look like a card that can still be edited).
    Everything else redirects to the current step, so nobody skips ahead by URL.
    """
    if page == Step.CARD and current in ORDER[ORDER.index(Step.CARD) + 1 :]:
        return True
    return page == current or (current == Step.CARD and page == Step.INTERVIEW)


def recruiter_url(study: Study, code: str) -> str:
    """The study's completion URL carrying ``code``: in place of ``{code}`` if the URL
    has that placeholder, else as the ``cc`` parameter (Prolific's name for it)."""
    url = study.completion_url
    if not url or not code:
        return ""
    if "{code}" in url:
        return url.replace("{code}", quote(code, safe=""))
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cc"]
    query.append(("cc", code))
    return urlunsplit(parts._replace(query=urlencode(query)))
