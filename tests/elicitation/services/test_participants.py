"""services.participants: starting, resuming, question assignment, the steps a study runs."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from elicitation import selectors
from elicitation.models import Participant, ResumeAttempt
from elicitation.services import card, participants
from tests import factories
from tests.helpers import advance_to, fresh, make_study, start

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_start_creates_a_consented_participant_on_the_first_step():
    study = make_study()
    participant = participants.participant_start(
        study=study,
        session_key="abc",
        recruiter_pid="P1",
        recruiter_study_id="S1",
        recruiter_session_id="X1",
    )
    assert participant.step == Step.ABOUT
    assert participant.consented_at is not None
    assert (participant.recruiter_pid, participant.recruiter_study_id) == ("P1", "S1")
    assert participant.question is not None


def test_the_same_recruiter_id_never_makes_a_second_participant():
    study = make_study()
    first = start(study, pid="P1", session_key="one")
    assert start(study, pid="P1", session_key="one").pk == first.pk  # a double "I agree"
    # Another browser with the same id is refused, not handed the participant.
    with pytest.raises(participants.AlreadyStarted) as refused:
        start(study, pid="P1", session_key="two")
    assert refused.value.participant.pk == first.pk
    assert fresh(first).session_key == "one"
    assert Participant.objects.filter(study=study).count() == 1


# --- The resume code ------------------------------------------------------------------------


def test_a_resume_code_is_short_unambiguous_and_stored_only_hashed():
    participant = start(make_study(), pid="P1")
    codes = {participants.resume_code_issue(participant=participant) for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        assert len(code) == 8 and set(code) <= set(participants.RESUME_ALPHABET)
    assert not set("01OIL") & set(participants.RESUME_ALPHABET)
    code = participants.resume_code_issue(participant=participant)
    stored = fresh(participant).resume_code_hash
    assert stored and code not in stored and len(stored) == 64
    # Typed loosely (lower case, a dash, spaces) it still matches; an older code does not.
    loose = f" {code[:4].lower()}-{code[4:]} "
    assert participants.resume_code_matches(fresh(participant), loose)
    assert not participants.resume_code_matches(fresh(participant), codes.pop())
    assert not participants.resume_code_matches(fresh(participant), "")


def test_the_same_code_hashes_apart_for_two_participants():
    study = make_study()
    one, two = start(study, pid="P1", session_key="a"), start(study, pid="P2", session_key="b")
    code = participants.resume_code_issue(participant=one)
    assert participants._code_hash(one, code) != participants._code_hash(two, code)


def test_the_right_code_binds_the_participant_to_the_new_session():
    participant = start(make_study(), pid="P1", session_key="first")
    code = participants.resume_code_issue(participant=participant)
    resumed = participants.participant_resume(
        participant=participant, code=code, session_key="second", address="10.0.0.1"
    )
    assert resumed.pk == participant.pk and fresh(participant).session_key == "second"
    attempt = ResumeAttempt.objects.get()
    assert attempt.succeeded and attempt.address == "10.0.0.1"


def test_wrong_codes_are_refused_and_then_not_even_checked():
    participant = start(make_study(), pid="P1", session_key="first")
    code = participants.resume_code_issue(participant=participant)
    for _ in range(participants.RESUME_WRONG_PER_SESSION):
        with pytest.raises(participants.WrongResumeCode) as wrong:
            participants.participant_resume(
                participant=participant, code="AAAA-AAAA", session_key="thief"
            )
        assert wrong.value.retry_after == 0
    # The limit is reached: even the right code is not looked at from this session ...
    with pytest.raises(participants.WrongResumeCode) as paused:
        participants.participant_resume(participant=participant, code=code, session_key="thief")
    assert paused.value.retry_after > 0 and "Too many wrong codes" in paused.value.message
    assert fresh(participant).session_key == "first"
    # ... while another session, with the right code, still gets in.
    participants.participant_resume(participant=participant, code=code, session_key="owner")
    assert fresh(participant).session_key == "owner"


def test_wrong_codes_are_limited_per_address_and_per_participant():
    study = make_study()
    participant = start(study, pid="P1", session_key="first")
    code = participants.resume_code_issue(participant=participant)
    for i in range(participants.RESUME_WRONG_PER_PARTICIPANT):
        with pytest.raises(participants.WrongResumeCode):
            participants.participant_resume(
                participant=participant, code="AAAA-AAAA", session_key=f"s{i}", address=f"a{i}"
            )
    # New sessions from new addresses: the participant's own count stops the guessing.
    with pytest.raises(participants.WrongResumeCode) as paused:
        participants.participant_resume(
            participant=participant, code=code, session_key="fresh", address="fresh"
        )
    assert paused.value.retry_after > 0

    others = [start(study, pid=f"P{n}", session_key=f"own{n}") for n in range(2, 6)]
    other = others[0]
    ResumeAttempt.objects.all().delete()
    for i in range(participants.RESUME_WRONG_PER_ADDRESS):
        target = others[i % len(others)]  # each below their own limit
        with pytest.raises(participants.WrongResumeCode):
            participants.participant_resume(
                participant=target, code="AAAA-AAAA", session_key=f"t{i}", address="one.address"
            )
    other_code = participants.resume_code_issue(participant=other)
    with pytest.raises(participants.WrongResumeCode) as paused:
        participants.participant_resume(
            participant=other, code=other_code, session_key="new", address="one.address"
        )
    assert paused.value.retry_after > 0


def test_the_same_session_without_recruiter_id_is_the_same_participant():
    study = make_study()
    assert start(study, session_key="s").pk == start(study, session_key="s").pk
    assert start(study, session_key="other").pk != start(study, session_key="s").pk


def test_questions_are_assigned_least_filled_first():
    study = make_study()
    factories.QuestionFactory(study=study, key="second", position=1)
    factories.QuestionFactory(study=study, key="third", position=2)
    keys = [start(study, session_key=f"s{i}").question.key for i in range(6)]
    assert sorted(keys) == sorted(["main", "second", "third"] * 2)
    assert keys[:3] == ["main", "second", "third"]


def test_a_study_without_questions_cannot_start():
    study = factories.StudyFactory()
    with pytest.raises(participants.JourneyError):
        start(study)


def test_start_skips_steps_the_study_turned_off():
    study = make_study(demographics_enabled=False)
    assert start(study).step == Step.QUESTION


# --- Entering a drawn step -----------------------------------------------------------------


def test_a_drawn_step_with_nothing_drawn_is_skipped(monkeypatch):
    from elicitation import journey

    calls = []

    def draw_nothing(participant):
        calls.append(participant.step)
        return False

    monkeypatch.setitem(journey._drawers, Step.SELECTION, draw_nothing)
    monkeypatch.setitem(journey._drawers, Step.JUDGMENTS, lambda participant: True)
    participant = advance_to(start(make_study()), Step.CARD)
    draft = selectors.draft_card(participant)
    card.card_submit(
        participant=participant,
        title=draft.title,
        description=draft.description,
        policies=draft.policies,
    )
    # The selection drawer was asked (while the participant was still on the card) and
    # drew nothing: the participant lands on the judgments, whose drawer drew something.
    assert calls == [Step.CARD]
    assert fresh(participant).step == Step.JUDGMENTS
    assert fresh(participant).skipped_steps == [Step.SELECTION]  # for progress


def test_a_drawn_step_with_something_drawn_is_entered(monkeypatch):
    from elicitation import journey

    monkeypatch.setitem(journey._drawers, Step.SELECTION, lambda participant: True)
    participant = advance_to(start(make_study()), Step.CARD)
    draft = selectors.draft_card(participant)
    card.card_submit(
        participant=participant,
        title=draft.title,
        description=draft.description,
        policies=draft.policies,
    )
    assert fresh(participant).step == Step.SELECTION


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pid", ["", "P-same"])
def test_a_double_i_agree_at_the_same_moment_makes_one_participant(pid):
    # Starts of other people run side by side now (no study row lock): the same browser's,
    # or the same recruiter id's, still wait for each other.
    import threading

    from django.db import connection

    study = make_study(signups_per_address_hour=0)
    ready = threading.Barrier(4)
    started, errors = [], []

    def agree():
        try:
            ready.wait()
            started.append(start(study, pid=pid, session_key="one-browser").pk)
        except Exception as error:  # noqa: BLE001 - any error fails the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=agree) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(started)) == 1 and Participant.objects.filter(study=study).count() == 1


def test_lock_reads_the_row_afresh_and_reuses_the_question_the_request_read():
    study = make_study()
    participant = selectors.participant_by_public_id(study, str(start(study).public_id))
    Participant.objects.filter(pk=participant.pk).update(step=Participant.Step.ABOUT)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = participants.lock(participant, Participant.Step.ABOUT)
        assert locked.question == participant.question  # no second read of it
    assert locked.step == Participant.Step.ABOUT  # the row as it is now
    (sql,) = [q["sql"] for q in queries]
    assert "FOR UPDATE" in sql and "elicitation_question" not in sql  # the row alone
    # Moved to another question meanwhile: that question is read, not the old one kept.
    other = factories.QuestionFactory(study=study, key="other", title="Other")
    Participant.objects.filter(pk=participant.pk).update(question=other)
    with transaction.atomic():
        assert participants.lock(participant, Participant.Step.ABOUT).question == other
