"""moralgraph.services.adaptive: what scoring leaves for the draw, the stopping rule,
stories on demand and the projection."""

import pytest

from elicitation.models import Study, WiserJudgment
from elicitation.selectors import published_study
from moralgraph import locks
from moralgraph.graph import pairwise
from moralgraph.models import AuditEntry, GraphSnapshot, UpgradeHypothesis
from moralgraph.services import adaptive, hypotheses, scoring
from tests.factories import ContextFactory, ParticipantFactory, QuestionFactory, StudyFactory
from tests.helpers import make_study, seed_stories, seed_values

pytestmark = pytest.mark.django_db


def judge(story, verdict="upgrade", times=1):
    for _ in range(times):
        WiserJudgment.objects.create(
            participant=ParticipantFactory(study=story.study),
            hypothesis=story,
            pair_key=WiserJudgment.make_pair_key(story.from_value_id, story.to_value_id),
            verdict=verdict,
        )


@pytest.fixture
def two_contexts():
    """One question, two contexts, each with stories on three values (one direction)."""
    study = make_study(status=Study.Status.LIVE)
    question = study.questions.get()
    values = seed_values(question, 6)
    first = seed_stories(study, values[:3], question=question, both_ways=False)
    second = seed_stories(study, values[3:], question=question, both_ways=False)
    return study, first, second


def test_scoring_keeps_fits_and_the_draws_state_in_the_snapshot(two_contexts):
    study, first, _ = two_contexts
    judge(first[0], times=3)
    snapshot = scoring.score_study(study=study)
    context_id = str(first[0].context_id)
    assert set(snapshot.results["fits"]) == {context_id}
    state = snapshot.results["adaptive"]["contexts"][context_id]
    assert state["status"] == "insufficient" and state["streak"] == 0 and not state["settled"]
    assert state["judgments"] == 3 and state["needed"] >= 1 and state["duels"]
    assert adaptive.context_states(study)[context_id].duels


def test_a_rescoring_in_another_process_refits_only_changed_contexts(two_contexts, monkeypatch):
    study, first, second = two_contexts
    judge(first[0], times=3)
    judge(second[0], times=2)
    before = scoring.score_study(study=study)
    scoring._FITS.clear()  # a worker process that did not score it before
    fitted = []
    real = pairwise.fit_context
    monkeypatch.setattr(
        pairwise,
        "fit_context",
        lambda votes, **kw: fitted.append(votes.context_id) or real(votes, **kw),
    )
    judge(second[1])
    after = scoring.score_study(study=study)
    assert fitted == [str(second[0].context_id)]
    context_id = str(first[0].context_id)
    assert after.results["fits"][context_id] == before.results["fits"][context_id]


def test_a_context_confident_at_consecutive_scorings_is_settled(two_contexts, lenient_statuses):
    study, first, _ = two_contexts
    Study.objects.filter(pk=study.pk).update(stable_rescorings=2)
    study.refresh_from_db()
    context_id = str(first[0].context_id)
    streaks = []
    for _ in range(3):
        judge(first[0], times=3)
        judge(first[1], times=3)
        snapshot = scoring.score_study(study=study)
        streaks.append(snapshot.results["adaptive"]["contexts"][context_id]["streak"])
    assert streaks == [1, 2, 3]
    assert adaptive.context_states(study)[context_id].settled
    (row,) = [c for q in adaptive.progress(study) for c in q.contexts if c.settled]
    assert row.needed == 0 and row.participants == 0


def test_a_study_that_closes_when_settled_moves_to_closing(
    two_contexts, lenient_statuses, django_capture_on_commit_callbacks
):
    study, first, second = two_contexts
    Study.objects.filter(pk=study.pk).update(stable_rescorings=1, close_when_settled=True)
    study.refresh_from_db()
    for story in (*first, *second):
        judge(story, times=3)
    assert published_study(study.slug).status == Study.Status.LIVE  # kept by this process
    with django_capture_on_commit_callbacks(execute=True):
        scoring.score_study(study=study)
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSING
    # Moved by an UPDATE: this process's participant pages see it at once all the same.
    assert published_study(study.slug).status == Study.Status.CLOSING
    entry = AuditEntry.objects.get(study=study)
    assert entry.action == AuditEntry.Action.STATUS and entry.details["to"] == "closing"


def test_a_study_with_a_context_still_open_stays_live(two_contexts, lenient_statuses):
    study, first, _ = two_contexts
    Study.objects.filter(pk=study.pk).update(stable_rescorings=1, close_when_settled=True)
    study.refresh_from_db()
    for story in first:
        judge(story, times=3)
    scoring.score_study(study=study)  # the second context has no judgment yet
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE
    questions = adaptive.progress(study)
    assert not questions[0].settled and questions[0].participants is None


def _contested(study, context, wanted):
    return GraphSnapshot.objects.create(
        study=study,
        input_hash="c" * 64,
        results={
            "adaptive": {
                "contexts": {
                    str(context.pk): {
                        "status": "contested",
                        "settled": False,
                        "streak": 0,
                        "judgments": 40,
                        "needed": 60,
                        "duels": [[str(wanted[0].pk), str(wanted[1].pk), 0.6]],
                        "wanted": [[str(wanted[0].pk), str(wanted[1].pk)]],
                    }
                }
            }
        },
    )


def test_a_contested_contexts_missing_pair_gets_a_story_queued(
    two_contexts, queued, django_capture_on_commit_callbacks
):
    study, first, _ = two_contexts
    context = first[0].context
    a, c = first[0].from_value, first[1].to_value  # never paired in a story
    snapshot = _contested(study, context, (a, c))
    assert adaptive.missing_stories(study, snapshot) == [(context.pk, *sorted((a.pk, c.pk)))]
    with django_capture_on_commit_callbacks(execute=True):
        adaptive.after_scoring(study=study, snapshot=snapshot)
    assert ("moralgraph.tasks.reconcile_study", (study.pk,), None) in queued
    # Reconciliation writes it first, within the story budget.
    plan = hypotheses.plan_stories(study, hypotheses.HypothesisStats())
    assert {plan[0].todo[0][0], plan[0].todo[0][1]} == {a.pk, c.pk}
    with locks.study_lock(study.pk):
        hypotheses.write_hypotheses(study)
    assert UpgradeHypothesis.objects.filter(
        context=context, from_value__in=(a, c), to_value__in=(a, c)
    ).exists()
    assert adaptive.missing_stories(study, snapshot) == []


def test_a_settled_or_confident_context_wants_no_story(two_contexts):
    study, first, _ = two_contexts
    snapshot = _contested(study, first[0].context, (first[0].from_value, first[1].to_value))
    snapshot.results["adaptive"]["contexts"][str(first[0].context_id)]["settled"] = True
    assert adaptive.missing_stories(study, snapshot) == []


def test_the_projection_counts_participants_at_the_studys_judgments_per_person(two_contexts):
    study, first, _ = two_contexts
    Study.objects.filter(pk=study.pk).update(judgment_count=4)
    study.refresh_from_db()
    _contested(study, first[0].context, (first[0].from_value, first[1].to_value))
    (question,) = adaptive.progress(study)
    row = next(c for c in question.contexts if c.context_id == first[0].context_id)
    assert (row.judgments, row.needed, row.participants) == (40, 60, 15)
    assert not question.settled


def test_contexts_without_a_question_apply_to_every_question():
    study = StudyFactory()
    ContextFactory(study=study, text="When anything")
    QuestionFactory(study=study, key="one")
    QuestionFactory(study=study, key="two")
    assert [len(q.contexts) for q in adaptive.progress(study)] == [1, 1]


def test_the_judgments_table_says_how_each_story_was_drawn(two_contexts):
    import csv
    import io
    import zipfile

    from elicitation.models import JudgmentAssignment
    from moralgraph.services import draws
    from moralgraph.services.exports import build_export
    from tests.helpers import start

    study, first, _ = two_contexts
    judge(first[0], times=2)
    scoring.score_study(study=study)
    participant = start(study)
    assert draws.draw_judgments(participant)
    assignment = JudgmentAssignment.objects.filter(participant=participant).first()
    story = assignment.hypothesis
    WiserJudgment.objects.create(
        participant=participant,
        hypothesis=story,
        pair_key=WiserJudgment.make_pair_key(story.from_value_id, story.to_value_id),
        verdict="upgrade",
    )
    scoring.score_study(study=study)
    archive = zipfile.ZipFile(io.BytesIO(build_export(study=study, fmt="csv").content))
    rows = list(csv.DictReader(io.StringIO(archive.read("judgments.csv").decode())))
    (mine,) = [r for r in rows if r["hypothesis_id"] == str(story.pk) and r["draw_policy"]]
    assert mine["draw_policy"] == assignment.policy in ("uniform", "adaptive")
    assert mine["context_status"] == assignment.context_status


def test_the_draws_read_a_snapshots_states_once_then_only_which_is_latest(
    two_contexts, django_assert_num_queries
):
    study, first, _ = two_contexts
    judge(first[0])
    scoring.score_study(study=study)
    states = adaptive.context_states(study)
    assert str(first[0].context_id) in states
    with django_assert_num_queries(1):  # which snapshot is the latest; its results are kept
        assert adaptive.context_states(study) == states
    # A newer scoring is a new snapshot: its states are read.
    judge(first[1], times=2)
    newer = scoring.score_study(study=study)
    assert GraphSnapshot.latest_key_for(study) == (newer.pk, newer.input_hash)
    fresh = adaptive.context_states(study)
    assert fresh is not states
    assert {k: s.duels for k, s in fresh.items()} == {
        k: tuple(s.duels) for k, s in newer.payload.adaptive.items()
    }
