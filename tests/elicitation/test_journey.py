"""Step order, progress and time left, from a study's settings alone (no database)."""

import pytest

from elicitation import journey
from elicitation.models import Participant, Study

Step = Participant.Step


def _study(**fields) -> Study:
    return Study(slug="s", title="S", **fields)


def test_all_steps_run_by_default():
    assert journey.steps_for(_study()) == [
        "consent",
        "about",
        "question",
        "interview",
        "card",
        "selection",
        "judgments",
        "survey",
        "done",
    ]


def test_the_study_settings_turn_steps_off():
    study = _study(
        demographics_enabled=False, selection_enabled=False, judgment_count=0, survey_enabled=False
    )
    assert journey.steps_for(study) == ["consent", "question", "interview", "card", "done"]
    assert journey.first_step(study) == Step.QUESTION
    assert journey.next_step(study, Step.CARD) == Step.DONE


def test_next_step_after_a_step_the_study_turned_off_continues_from_its_place():
    study = _study(selection_enabled=False)
    assert journey.next_step(study, Step.SELECTION) == Step.JUDGMENTS


def test_done_stays_done():
    assert journey.next_step(_study(), Step.DONE) == Step.DONE


def test_progress_counts_steps_and_time_left():
    study = _study(estimated_minutes=20)
    first = journey.progress(study, "consent")
    assert (first.number, first.total) == (1, 8)
    assert first.minutes_left == 20
    assert first.percent == 0
    interview = journey.progress(study, Step.INTERVIEW)
    assert interview.number == 4
    assert 0 < interview.minutes_left < 20
    survey = journey.progress(study, Step.SURVEY)
    assert survey.number == 8
    assert survey.minutes_left >= 1
    assert journey.progress(study, Step.DONE).finished


def test_progress_shrinks_with_the_steps_a_study_runs():
    study = _study(demographics_enabled=False, survey_enabled=False)
    assert journey.progress(study, Step.QUESTION).total == 6
    assert journey.progress(study, Step.QUESTION).number == 2


def test_skipped_steps_leave_the_count_so_progress_never_jumps():
    study = _study(estimated_minutes=20)
    order = [s for s in journey.steps_for(study) if s != Step.DONE]
    # Nothing to select from or judge: both drawn steps are passed over.
    skipped = [Step.SELECTION, Step.JUDGMENTS]
    seen = [s for s in order if s not in skipped]
    before = [journey.progress(study, s) for s in order[: order.index(Step.CARD) + 1]]
    after = [journey.progress(study, s, skipped=skipped) for s in seen[len(before) :]]
    shown = before + after
    numbers = [p.number for p in shown]
    assert numbers == list(range(1, len(seen) + 1)), numbers  # one step at a time
    assert [p.total for p in after] == [len(seen)] * len(after)  # 6, not 8
    percents = [p.percent for p in shown]
    assert percents == sorted(percents) and len(set(percents)) == len(percents)
    minutes = [p.minutes_left for p in shown]
    assert minutes == sorted(minutes, reverse=True)
    assert journey.progress(study, Step.SURVEY, skipped=skipped).minutes_left <= 2
    # Today's count without the skipped steps would have read "8 of 8" on the survey.
    assert journey.progress(study, Step.SURVEY).number == 8


def test_progress_on_a_skipped_step_is_the_next_one_seen():
    study = _study()
    on = journey.progress(study, Step.SELECTION, skipped=[Step.SELECTION, Step.JUDGMENTS])
    assert on.label == journey.LABELS[Step.SURVEY]
    gone = _study(survey_enabled=False)
    assert journey.progress(gone, Step.JUDGMENTS, skipped=[Step.JUDGMENTS]).finished


def test_the_interview_weighs_most_in_the_time_left():
    study = _study(estimated_minutes=15)
    before = journey.progress(study, Step.INTERVIEW).minutes_left
    after = journey.progress(study, Step.CARD).minutes_left
    assert before - after >= 4


def test_a_participant_sees_only_their_step_and_may_go_back_from_the_card_to_talk():
    assert journey.can_view(Step.INTERVIEW, Step.INTERVIEW)
    assert not journey.can_view(Step.INTERVIEW, Step.CARD)
    assert journey.can_view(Step.CARD, Step.INTERVIEW)
    assert not journey.can_view(Step.QUESTION, Step.SURVEY)
    assert not journey.can_view(Step.SELECTION, Step.INTERVIEW)


def test_a_submitted_card_may_be_looked_at_but_not_before_it_exists():
    # After the card step the card page shows the submitted card, read-only.
    for later in (Step.SELECTION, Step.JUDGMENTS, Step.SURVEY, Step.DONE):
        assert journey.can_view(later, Step.CARD)
    for earlier in (Step.ABOUT, Step.QUESTION, Step.INTERVIEW):
        assert not journey.can_view(earlier, Step.CARD)


def test_recruiter_url_adds_the_code_as_cc():
    study = _study(completion_url="https://app.prolific.com/submissions/complete?x=1")
    assert journey.recruiter_url(study, "AB12") == (
        "https://app.prolific.com/submissions/complete?x=1&cc=AB12"
    )


def test_recruiter_url_replaces_an_existing_cc_and_fills_a_placeholder():
    study = _study(completion_url="https://example.org/done?cc=OLD")
    assert journey.recruiter_url(study, "NEW") == "https://example.org/done?cc=NEW"
    study = _study(completion_url="https://example.org/finish/{code}/")
    assert journey.recruiter_url(study, "A B") == "https://example.org/finish/A%20B/"


def test_recruiter_url_is_empty_without_url_or_code():
    assert journey.recruiter_url(_study(), "X") == ""
    assert journey.recruiter_url(_study(completion_url="https://example.org/"), "") == ""


# --- The step-drawer registry ------------------------------------------------------------------


def test_a_step_that_shows_no_draw_is_always_entered(monkeypatch):
    monkeypatch.setattr(journey, "_drawers", {})
    participant = Participant(study=_study())
    assert journey.draw_step(participant, Step.SURVEY)
    assert journey.draw_step(participant, Step.INTERVIEW)


def test_a_drawn_step_without_a_drawer_has_nothing_to_show(monkeypatch):
    monkeypatch.setattr(journey, "_drawers", {})
    participant = Participant(study=_study())
    assert not journey.draw_step(participant, Step.SELECTION)
    assert not journey.draw_step(participant, Step.JUDGMENTS)


def test_a_registered_drawer_decides_and_sees_the_participant(monkeypatch):
    monkeypatch.setattr(journey, "_drawers", {})
    seen = []
    journey.register_step_drawer(Step.SELECTION, lambda p: seen.append(p) or True)
    journey.register_step_drawer(Step.JUDGMENTS, lambda p: False)
    participant = Participant(study=_study())
    assert journey.draw_step(participant, Step.SELECTION)
    assert not journey.draw_step(participant, Step.JUDGMENTS)
    assert seen == [participant]


def test_only_drawn_steps_take_a_drawer(monkeypatch):
    monkeypatch.setattr(journey, "_drawers", {})
    with pytest.raises(ValueError, match="not a drawn step"):
        journey.register_step_drawer(Step.SURVEY, lambda p: True)
    assert journey._drawers == {}
