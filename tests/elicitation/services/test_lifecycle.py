"""The study lifecycle: allowed moves, quotas that close a study, closing that ends by
itself, and participants who went quiet."""

from datetime import timedelta

import pytest
from django.utils import timezone

from elicitation import selectors
from elicitation.models import Participant, Study
from elicitation.services import about, lifecycle
from elicitation.signals import study_status_changed
from tests.helpers import advance_to, fresh, make_study, start

pytestmark = pytest.mark.django_db
Status = Study.Status
Step = Participant.Step


def _finish(participant: Participant) -> Participant:
    return advance_to(participant, Step.DONE)


def _refresh(study: Study) -> Study:
    return Study.objects.get(pk=study.pk)


# --- Moves ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (Status.DRAFT, Status.PILOT),
        (Status.DRAFT, Status.LIVE),
        (Status.PILOT, Status.DRAFT),
        (Status.PILOT, Status.LIVE),
        (Status.LIVE, Status.CLOSING),
        (Status.CLOSING, Status.LIVE),
        (Status.CLOSING, Status.CLOSED),
    ],
)
def test_it_allows_the_lifecycle_moves(old, new):
    study = make_study(status=old)
    lifecycle.transition(study, new, reason="test")
    assert _refresh(study).status == new


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (Status.DRAFT, Status.CLOSED),
        (Status.LIVE, Status.DRAFT),
        (Status.LIVE, Status.PILOT),
        (Status.LIVE, Status.CLOSED),
        (Status.CLOSED, Status.LIVE),
        (Status.CLOSED, Status.CLOSING),
        (Status.LIVE, Status.LIVE),
        (Status.LIVE, "open"),
    ],
)
def test_it_refuses_other_moves(old, new):
    study = make_study(status=old)
    with pytest.raises(lifecycle.TransitionError):
        lifecycle.transition(study, new)
    assert _refresh(study).status == old


def test_closing_for_good_sets_closed_at_and_reopening_clears_it():
    study = make_study(status=Status.CLOSING)
    lifecycle.transition(study, Status.CLOSED)
    assert _refresh(study).closed_at is not None
    study = make_study(status=Status.CLOSING, closed_at=timezone.now())
    lifecycle.transition(study, Status.LIVE)
    assert _refresh(study).closed_at is None


def test_every_move_is_announced_with_who_and_why():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    study_status_changed.connect(receiver)
    try:
        study = make_study(status=Status.PILOT)
        lifecycle.transition(study, Status.LIVE, reason="Pilot went well.", actor=None)
    finally:
        study_status_changed.disconnect(receiver)
    assert seen == [
        {
            "signal": study_status_changed,
            "study_id": study.pk,
            "old": Status.PILOT,
            "new": Status.LIVE,
            "reason": "Pilot went well.",
            "actor": None,
        }
    ]


def test_the_next_statuses_follow_the_rule():
    assert [s for s, _ in make_study(status=Status.DRAFT).next_statuses()] == ["pilot", "live"]
    assert make_study(status=Status.CLOSED).next_statuses() == []


# --- Quotas ------------------------------------------------------------------------------


def test_reaching_the_maximum_of_completed_participants_moves_to_closing():
    study = make_study(max_completed=2)
    first, second = start(study, session_key="a"), start(study, session_key="b")
    _finish(first)
    assert _refresh(study).status == Status.LIVE
    _finish(second)
    assert _refresh(study).status == Status.CLOSED  # closing, and nobody left inside


def test_a_closing_study_waits_for_those_inside():
    study = make_study(max_completed=1)
    inside = start(study, session_key="a")
    advance_to(inside, Step.INTERVIEW)
    _finish(start(study, session_key="b"))
    assert _refresh(study).status == Status.CLOSING
    assert not lifecycle.close_if_done(_refresh(study))
    _finish(inside)
    study = _refresh(study)
    assert study.status == Status.CLOSED and study.closed_at is not None


def test_test_participants_never_fill_a_quota():
    study = make_study(max_completed=1)
    tester = start(study, session_key="t")
    Participant.objects.filter(pk=tester.pk).update(is_test=True)
    _finish(tester)
    assert _refresh(study).status == Status.LIVE


def _group_study(**quotas):
    return make_study(group_answers=["democrat", "republican"], group_quotas=quotas)


def _in_group(study, key, group):
    participant = start(study, session_key=key)
    about.demographics_save(participant=participant, answers={"political_affiliation": group})
    return fresh(participant)


def test_a_full_group_screens_out_its_new_participants():
    study = _group_study(democrat=1)
    _finish(_in_group(study, "a", "democrat"))
    late = _in_group(study, "b", "democrat")
    assert late.screened_out_at is not None and late.screen_out_reason == "quota_full"
    assert late.step == Step.ABOUT
    other = _in_group(study, "c", "republican")
    assert other.screened_out_at is None and other.step != Step.ABOUT
    # A group without a quota has no limit: the study stays live.
    assert _refresh(study).status == Status.LIVE


def test_every_group_full_moves_to_closing():
    study = _group_study(democrat=1, republican=1)
    _finish(_in_group(study, "a", "democrat"))
    assert _refresh(study).status == Status.LIVE
    waiting = _in_group(study, "w", "independent")  # unlabelled: no quota applies
    _finish(_in_group(study, "b", "republican"))
    assert _refresh(study).status == Status.CLOSING
    _finish(waiting)
    assert _refresh(study).status == Status.CLOSED


def test_the_sweep_closes_a_study_whose_quota_was_lowered():
    study = make_study()
    _finish(start(study, session_key="a"))
    Study.objects.filter(pk=study.pk).update(max_completed=1)
    assert lifecycle.sweep_lifecycle() == {"closing": [study.pk], "closed": [study.pk]}
    assert _refresh(study).status == Status.CLOSED


def test_the_sweep_closes_a_closing_study_once_its_last_participant_abandoned():
    study = make_study(status=Status.CLOSING, inactive_minutes=30)
    idle = start(study, session_key="a")
    assert not lifecycle.close_if_done(study)
    Participant.objects.filter(pk=idle.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=31)
    )
    result = lifecycle.sweep_lifecycle()
    assert result["closed"] == [study.pk]


# --- Abandoned -----------------------------------------------------------------------


def test_idle_participants_are_marked_abandoned_and_unmarked_when_they_return():
    study = make_study(inactive_minutes=30)
    idle, active = start(study, session_key="a"), start(study, session_key="b")
    done = _finish(start(study, session_key="c"))
    long_ago = timezone.now() - timedelta(minutes=31)
    Participant.objects.filter(pk__in=[idle.pk, done.pk]).update(last_seen_at=long_ago)
    assert lifecycle.mark_abandoned() == 1
    assert fresh(idle).abandoned_at is not None
    assert fresh(active).abandoned_at is None and fresh(done).abandoned_at is None
    assert set(selectors.counted_participants(study)) == {fresh(active), fresh(done)}

    lifecycle.note_seen(fresh(idle))
    idle = fresh(idle)
    assert idle.abandoned_at is None and idle.last_seen_at > long_ago


def test_a_participant_never_seen_falls_back_to_their_last_change():
    study = make_study(inactive_minutes=30)
    idle = start(study, session_key="a")
    Participant.objects.filter(pk=idle.pk).update(
        last_seen_at=None, updated_at=timezone.now() - timedelta(hours=1)
    )
    assert lifecycle.mark_abandoned() == 1


def test_being_seen_writes_at_most_once_a_minute(django_assert_num_queries):
    participant = fresh(start(make_study(), session_key="a"))
    with django_assert_num_queries(0):
        lifecycle.note_seen(participant)
    Participant.objects.filter(pk=participant.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=2)
    )
    participant = fresh(participant)
    with django_assert_num_queries(1):
        lifecycle.note_seen(participant)


# --- The question balance counts only counted participants --------------------------------


def test_new_participants_go_to_the_question_fewest_counted_participants_have():
    study = make_study()
    first_q = study.questions.get()
    second_q = study.questions.create(key="second", title="Second", text="?", position=1)
    tester = start(study, session_key="t")
    assert tester.question == first_q
    Participant.objects.filter(pk=tester.pk).update(is_test=True)
    # The test participant leaves the balance: the first question is still the emptiest.
    assert start(study, session_key="a").question == first_q
    assert start(study, session_key="b").question == second_q


def test_a_screened_out_participant_leaves_the_question_balance():
    study = _group_study(democrat=0)
    first_q = study.questions.get()
    study.questions.create(key="second", title="Second", text="?", position=1)
    screened = _in_group(study, "a", "democrat")
    assert screened.question == first_q and screened.screened_out_at is not None
    assert start(study, session_key="b").question == first_q
