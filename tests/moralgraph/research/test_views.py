"""The researchers' pages: the studies list, a study's live dashboard, the graph review."""

from datetime import timedelta

import pytest
from django.utils import timezone

from elicitation.models import (
    Participant,
    SurveyAnswer,
    ValuesCard,
    WiserJudgment,
    WorkerHeartbeat,
)
from moralgraph.locks import StudyBusy
from moralgraph.models import AuditEntry, CardMapping, UpgradeHypothesis, Value, ValueMerge
from moralgraph.services import merges, scoring
from tests import factories
from tests.moralgraph.support import card_value

pytestmark = pytest.mark.django_db
Step = Participant.Step
HTMX = {"HX-Request": "true"}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


# ---------------------------------------------------------------------------------------
# Members only (every URL of the research pages: tests/moralgraph/research/test_access.py)
# ---------------------------------------------------------------------------------------

PAGES = ["/research/", "/research/live/", "/research/live/review/"]
ACTIONS = [
    "/research/live/reconcile/",
    "/research/live/rescore/",
    "/research/live/retry-failed/",
    "/research/live/merges/1/split/",
]


@pytest.mark.parametrize("url", PAGES + ACTIONS)
def test_it_sends_anonymous_visitors_to_the_login(client, study, url):
    response = client.post(url) if url in ACTIONS else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", PAGES[1:] + ACTIONS)
def test_it_shows_participants_and_other_non_members_nothing(client, study, url, django_user_model):
    client.force_login(django_user_model.objects.create_user("someone"))
    response = client.post(url) if url in ACTIONS else client.get(url)
    # Logged in but no role on the study: as if it did not exist.
    assert response.status_code == 404


@pytest.mark.parametrize("url", ACTIONS)
def test_its_actions_reject_get(staff, study, url):
    assert staff.get(url).status_code == 405


# ---------------------------------------------------------------------------------------
# Studies list
# ---------------------------------------------------------------------------------------


def test_the_studies_list_counts_and_links(staff, study):
    question = study.questions.first()
    card, value = card_value(study, question, "Careful Listening")
    factories.StudyFactory(slug="other", title="Another study")
    page = staff.get("/research/").content.decode()
    assert "Live study" in page and "Another study" in page
    assert "/research/live/" in page and "/research/live/settings/" in page
    assert "/research/new/" not in page  # creating a study is an admin permission
    assert (
        "http://testserver/s/live/?PROLIFIC_PID={{%PROLIFIC_PID%}}&amp;STUDY_ID={{%STUDY_ID%}}"
        "&amp;SESSION_ID={{%SESSION_ID%}}" in page
    )
    row = page[page.index("Live study") :]
    # started 4, completed 2 (50%), 1 card, 1 value, 0 judgments
    cells = [c.split("<")[0].strip() for c in row.split('<td class="num">')[1:6]]
    assert cells == ["4", "2", "1", "1", "0"]


def test_the_studies_list_without_studies(staff):
    page = staff.get("/research/").content.decode()
    assert "No studies yet" in page and "owner adds you" in page


# ---------------------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------------------


def test_the_median_time_is_shown_against_the_estimate(staff, study):
    response = staff.get("/research/live/")
    funnel = response.context["funnel"]
    assert funnel.median_minutes == 22.0 and funnel.timed == 2
    assert funnel.overrun_percent == 47 and funnel.over_estimate
    page = response.content.decode()
    block = page[page.index('id="median-time"') :][:900]
    assert "kpi-warn" in page[page.rindex("<div", 0, page.index('id="median-time"')) :][:200]
    assert "22.0" in block and "15 min" in block and "47% over" in block


def test_the_legitimacy_page_says_where_fair_position_comes_from(staff, study):
    SurveyAnswer.objects.update(fair_position=None)
    page = staff.get("/research/live/").content.decode()
    assert "asked in the follow-up" in page
    assert "/s/live/follow-up/?PROLIFIC_PID={{%PROLIFIC_PID%}}" in page


def test_it_says_when_no_worker_has_been_seen(staff, study):
    page = staff.get("/research/live/").content.decode()
    assert "No worker has been seen yet" in page
    WorkerHeartbeat.objects.create(name="worker", seen_at=timezone.now() - timedelta(minutes=5))
    page = staff.get("/research/live/").content.decode()
    assert "No worker has been seen for 5" in page
    WorkerHeartbeat.objects.filter(name="worker").update(seen_at=timezone.now())
    page = staff.get("/research/live/").content.decode()
    assert "Worker running" in page and "No worker has been seen" not in page


def test_the_backlog_shows_pending_and_failed_cards_with_reasons(staff, study):
    question = study.questions.first()
    card, _ = card_value(study, question, "Placed")
    pending, _ = card_value(study, question, "Waiting")
    ValuesCard.objects.filter(pk=pending.pk).update(reconcile_status=ValuesCard.Reconcile.PENDING)
    failed, _ = card_value(study, question, XSS)
    ValuesCard.objects.filter(pk=failed.pk).update(
        reconcile_status=ValuesCard.Reconcile.FAILED,
        reconcile_error="judge returned <b>nonsense</b>",
        reconcile_attempts=3,
    )
    response = staff.get("/research/live/")
    backlog = response.context["backlog"]
    assert (backlog.pending, backlog.failed_count) == (1, 1)
    page = response.content.decode()
    assert "judge returned &lt;b&gt;nonsense&lt;/b&gt;" in page
    assert XSS not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_the_polling_partial_is_only_the_partial(staff, study):
    full = staff.get("/research/live/").content.decode()
    assert full.lstrip().startswith("<!doctype html>")
    assert 'hx-trigger="every 5s"' in full
    response = staff.get("/research/live/", headers=HTMX)
    text = response.content.decode()
    assert text.lstrip().startswith('<div id="live"') and 'hx-trigger="every 5s"' in text
    assert "<html" not in text and "Participant link" not in text
    assert "22.0" in text
    assert "HX-Request" in response["Vary"]


def test_reconcile_now_enqueues_the_task_once_committed(
    staff, study, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = staff.post("/research/live/reconcile/")
    assert response.status_code == 302 and response["Location"] == "/research/live/"
    assert len(callbacks) == 1
    assert queued == [("moralgraph.tasks.reconcile_study", (study.pk,), None)]
    page = staff.get("/research/live/").content.decode()
    assert "Reconciliation queued" in page


def test_rescore_now_enqueues_scoring(staff, study, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post("/research/live/rescore/")
    assert response.status_code == 302
    assert queued == [("moralgraph.tasks.score_study", (study.pk,), None)]


def test_retry_failed_puts_failed_cards_back(
    staff, study, queued, django_capture_on_commit_callbacks
):
    card, _ = card_value(study, study.questions.first(), "Broken")
    ValuesCard.objects.filter(pk=card.pk).update(reconcile_status=ValuesCard.Reconcile.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/research/live/retry-failed/")
    card.refresh_from_db()
    assert card.reconcile_status == ValuesCard.Reconcile.PENDING
    assert queued == [("moralgraph.tasks.process_card", (card.pk,), None)]


def test_an_unknown_study_is_404(staff):
    assert staff.get("/research/nope/").status_code == 404
    assert staff.get("/research/nope/graph/").status_code == 404
    assert staff.post("/research/nope/reconcile/").status_code == 404


# ---------------------------------------------------------------------------------------
# The graph review
# ---------------------------------------------------------------------------------------


def test_the_graph_page_without_a_snapshot(staff, graph_study):
    response = staff.get("/research/graph/review/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "No snapshot yet" in page and "/research/graph/rescore/" in page
    assert "Plain Honesty" in page  # the values list is there all the same


def test_the_graph_page_shows_winners_ranks_and_edges(staff, graph_study):
    study, question, context, (a, b, c) = graph_study
    snapshot = scoring.score_study(study=study)
    response = staff.get("/research/graph/review/")
    assert response.status_code == 200
    review = response.context["review"]
    assert review.snapshot == snapshot
    [q] = review.questions
    assert q.question == question
    [ctx] = q.contexts
    assert ctx.text == "When someone is grieving"
    assert ctx.winner is not None and ctx.winner.value in (b, c)
    assert {r.value for r in ctx.ranks} == {a, b, c}
    assert all(r.cards == 1 for r in ctx.ranks)
    edges = {(e.from_value, e.to_value): e for e in ctx.edges}
    ab = edges[(a, b)]
    assert ab.share == 0.8 and ab.decisive == 5 and ab.bridged
    assert {g.group: g.share for g in ab.groups} == {"democrat": 1.0, "republican": 1.0}
    assert ab.story.text.startswith("I used to just say the facts")
    assert ab.story.reverse is False
    assert edges[(a, c)].carried_by == ("democrat",)
    page = response.content.decode()
    # A leader is "wisest" only when its context is confident; this one is not settled.
    label = {"contested": "Leading, contested", "insufficient": "Leading, not yet settled"}
    assert ctx.status in label and label[ctx.status] in page and "Wisest here" not in page
    assert "When someone is grieving" in page
    assert "80%</strong> wiser" in page and "carried by democrat" in page
    assert "A story &lt;em&gt;with markup&lt;/em&gt;." in page


def test_the_graph_partial_for_a_picked_snapshot(staff, graph_study):
    study, *_ = graph_study
    first = scoring.score_study(study=study)
    compat = scoring.score_study(study=study, mode="compat")
    response = staff.get(f"/research/graph/review/?snapshot={first.pk}", headers=HTMX)
    text = response.content.decode()
    assert text.lstrip().startswith('<div id="review"') and "<html" not in text
    assert f"Snapshot #{first.pk}" in text
    page = staff.get("/research/graph/review/?mode=compat").content.decode()
    assert f"Snapshot #{compat.pk}" in page and "The pooled graph" in page
    assert staff.get("/research/graph/review/?snapshot=99999").status_code == 404


def test_every_participant_text_renders_escaped(staff, graph_study):
    study, *_ = graph_study
    scoring.score_study(study=study)
    page = staff.get("/research/graph/review/").content.decode()
    assert XSS not in page
    assert (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
        in page
    )
    assert "<em>with markup</em>" not in page


def _merged(study, question):
    """Value B merged into value A, the way deduplication records it."""
    card_a, a = card_value(study, question, "Careful Listening")
    card_b, b = card_value(study, question, "Attentive Hearing")
    merge = ValueMerge.objects.create(
        study=study, into_value=a, from_value=b, card_ids=[card_b.pk], reason="the same attention"
    )
    CardMapping.objects.filter(card=card_b).update(undone_at=timezone.now())
    CardMapping.objects.create(card=card_b, value=a, merge=merge, mapped_by="llm")
    Value.objects.filter(pk=b.pk).update(is_active=False)
    return merge, a, b, card_b


def test_the_graph_page_lists_values_with_their_cards_and_merges(staff, graph_study):
    study, question, *_ = graph_study
    merge, a, b, card_b = _merged(study, question)
    page = staff.get("/research/graph/review/").content.decode()
    values = staff.get("/research/graph/review/").context["values"]
    careful = next(v for v in values if v.value == a)
    assert [c.title for c in careful.cards] == ["Careful Listening", "Attentive Hearing"]
    assert f"/research/graph/merges/{merge.pk}/split/" in page
    assert "the same attention" in page


def test_split_calls_the_service_and_undoes_the_merge(
    staff, graph_study, monkeypatch, queued, settings, django_capture_on_commit_callbacks
):
    settings.SCORE_DEBOUNCE_SECONDS = 30
    study, question, *_ = graph_study
    merge, a, b, card_b = _merged(study, question)
    calls = []
    real = merges.split_merge
    monkeypatch.setattr(merges, "split_merge", lambda **kw: calls.append(kw) or real(**kw))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(f"/research/graph/merges/{merge.pk}/split/")
    assert response.status_code == 302
    assert response["Location"] == "/research/graph/review/#merges"
    assert calls == [
        {"merge": merge, "actor": response.wsgi_request.user, "reason": "On the graph review."}
    ]
    assert AuditEntry.objects.get(study=study).action == "split"  # who and when, logged
    merge.refresh_from_db()
    b.refresh_from_db()
    assert merge.undone_at is not None and b.is_active
    assert CardMapping.objects.get(card=card_b, undone_at=None).value == b
    assert queued == [
        ("moralgraph.tasks.score_study", (study.pk,), 30)
    ]  # rescoring follows, as the service defines
    page = staff.get("/research/graph/review/").content.decode()
    assert "Split: 1 card(s) back in their own value" in page
    # Splitting again changes nothing.
    staff.post(f"/research/graph/merges/{merge.pk}/split/")
    assert "already undone" in staff.get("/research/graph/review/").content.decode()


def test_split_of_another_studys_merge_is_404(staff, graph_study):
    study, question, *_ = graph_study
    merge, *_ = _merged(study, question)
    factories.StudyFactory(slug="elsewhere")
    assert staff.post(f"/research/elsewhere/merges/{merge.pk}/split/").status_code == 404


def test_split_while_the_study_is_busy_says_so(staff, graph_study, monkeypatch):
    study, question, *_ = graph_study
    merge, *_ = _merged(study, question)

    def busy(**kwargs):
        raise StudyBusy(study.slug)

    monkeypatch.setattr(merges, "split_merge", busy)
    staff.post(f"/research/graph/merges/{merge.pk}/split/")
    assert "being reconciled right now" in staff.get("/research/graph/review/").content.decode()
    merge.refresh_from_db()
    assert merge.undone_at is None


def test_the_exports_page_is_linked_and_still_works(staff, study):
    page = staff.get("/research/live/").content.decode()
    assert "/research/live/exports/" in page
    exports = staff.get("/research/live/exports/")
    assert exports.status_code == 200 and "New export" in exports.content.decode()


def test_an_earlier_snapshot_says_which_is_the_latest(staff, graph_study):
    study, question, context, (a, b, c) = graph_study
    first = scoring.score_study(study=study)
    judge = factories.ParticipantFactory(study=study, step=Step.DONE)
    story = UpgradeHypothesis.objects.filter(from_value=a, to_value=b).get()
    WiserJudgment.objects.create(
        participant=judge,
        hypothesis=story,
        pair_key=WiserJudgment.make_pair_key(a.pk, b.pk),
        verdict="upgrade",
    )
    latest = scoring.score_study(study=study)
    assert latest != first
    page = staff.get(f"/research/graph/review/?snapshot={first.pk}").content.decode()
    assert "An earlier snapshot" in page and f'href="?snapshot={latest.pk}"' in page
    assert "An earlier snapshot" not in staff.get("/research/graph/review/").content.decode()


def test_the_review_lists_values_fifty_a_page_with_page_links(staff, graph_study):
    study, question, *_ = graph_study
    for n in range(52):  # 3 values already: 55 in all
        card_value(study, question, f"Value number {n:02d}")
    snapshot = scoring.score_study(study=study)
    response = staff.get(f"/research/graph/review/?snapshot={snapshot.pk}")
    page = response.content.decode()
    values = response.context["values"]
    assert len(values) == 50 and values.paginator.count == 55
    assert '<span class="count">55</span>' in page
    # The page links keep the snapshot, and land on the list.
    assert f'href="?snapshot={snapshot.pk}&amp;page=2#values"' in page
    second = staff.get(f"/research/graph/review/?snapshot={snapshot.pk}&page=2")
    assert len(second.context["values"]) == 5
    assert second.context["snapshot"].pk == snapshot.pk
    # A stale page number gives the last page, not an error.
    assert staff.get("/research/graph/review/?page=99").context["values"].number == 2


def test_the_reviews_contexts_come_fifty_a_page_in_question_order(rf, graph_study):
    from moralgraph.research import review
    from moralgraph.research.views import _paged_review

    study, question, *_ = graph_study
    empty = factories.QuestionFactory(study=study, key="later", title="Later question")

    def context(n):
        return review.ContextReview(str(n), f"When {n}", None, [], [], 0)

    whole = review.GraphReview(
        snapshot=None,
        questions=[
            review.QuestionReview(question, [context(n) for n in range(60)]),
            review.QuestionReview(empty, []),
        ],
        values_ranked=0,
        kept_edges=0,
    )
    first, page = _paged_review(rf.get("/"), whole)
    assert page.paginator.count == 61 and len(first.questions[0].contexts) == 50
    second, page = _paged_review(rf.get("/", {"contexts_page": "2"}), whole)
    # The question goes on across the page break; the one with no context keeps its note.
    assert [q.question for q in second.questions] == [question, empty]
    assert [c.context_id for c in second.questions[0].contexts] == [str(n) for n in range(50, 60)]
    assert second.questions[1].contexts == []


def test_a_confident_leader_is_wisest_here(staff, graph_study, settings):
    settings.PAIRWISE_PARAMS = {
        "confident_probability": 0.5,
        "min_winner_votes": 1,
        "min_winner_participants": 1,
        "min_lead": 0.0,
        "min_head_to_head_votes": 1000,
        "challenger_probability": 1.0,
    }
    study, *_ = graph_study
    scoring.score_study(study=study)
    response = staff.get("/research/graph/review/")
    [ctx] = response.context["review"].questions[0].contexts
    assert ctx.status == "confident"
    assert "Wisest here" in response.content.decode()
