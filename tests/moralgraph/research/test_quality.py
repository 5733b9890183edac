"""The dedup quality page: closest pairs and loosest merges side by side, merge and split
by hand with the audit log, participants' checks beside each merge."""

import pytest
from django.utils import timezone

from moralgraph import selectors
from moralgraph.locks import StudyBusy
from moralgraph.models import AuditEntry, CardMapping, GraphSnapshot, MergeCheck, Value, ValueMerge
from moralgraph.research import quality
from moralgraph.services import merges, scoring
from tests import factories
from tests.moralgraph.support import (
    AUTONOMY,
    AUTONOMY_AGAIN,
    BRIDGE_A,
    BRIDGE_C,
    FAITH,
    place_all,
    submit,
    value_of,
)

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def deduped():
    """Two autonomy cards merged by dedup, a faith card, and two cards kept apart that
    share most of their words."""
    study = factories.StudyFactory(slug="dq", title="Dedup quality")
    cards = {
        name: submit(study, card)
        for name, card in (("first", AUTONOMY), ("again", AUTONOMY_AGAIN), ("faith", FAITH))
    }
    place_all(study)
    cards["bridge_a"], cards["bridge_c"] = submit(study, BRIDGE_A), submit(study, BRIDGE_C)
    return study, cards


def test_it_is_for_members_only(client, deduped, django_user_model):
    assert client.get("/research/dq/quality/").status_code == 302
    client.force_login(django_user_model.objects.create_user("someone", is_staff=True))
    assert client.get("/research/dq/quality/").status_code == 404
    assert client.post("/research/dq/quality/merge/").status_code == 404
    assert not AuditEntry.objects.exists()


def test_the_page_shows_close_pairs_and_loose_merges_side_by_side(staff, deduped):
    study, cards = deduped
    response = staff.get("/research/dq/quality/")
    page = response.content.decode()

    assert response.status_code == 200
    pairs = response.context["pairs"]
    assert pairs and all(p.source.pk != p.target.pk for p in pairs)
    assert [p.similarity for p in pairs] == sorted((p.similarity for p in pairs), reverse=True)
    (loose,) = response.context["loose"]
    assert loose.merge == ValueMerge.objects.get(study=study)
    assert loose.into.pk == value_of(cards["first"])
    assert loose.similarity is not None and 0 < loose.similarity <= 1
    assert [c.pk for c in loose.cards] == [cards["again"].pk]
    assert AUTONOMY_AGAIN[0] in page and AUTONOMY[0] in page and FAITH[0] in page
    assert 'participants\' checks: <strong class="checks">0 same, 0 different</strong>' in page
    assert 'href="/research/dq/quality/" aria-current="page">Dedup quality</a>' in page
    assert "/research/dq/quality/" in staff.get("/research/dq/").content.decode()


def test_a_pair_split_apart_is_not_offered_again(staff, deduped):
    study, cards = deduped
    merge = ValueMerge.objects.get(study=study)
    merges.split_merge(merge=merge)
    pairs = quality.closest_pairs(study)
    split = {merge.from_value_id, merge.into_value_id}
    assert all({p.source.pk, p.target.pk} != split for p in pairs)


def test_a_hidden_value_is_in_no_close_pair(deduped):
    study, cards = deduped
    place_all(study)  # the two bridge cards too, each a value of its own
    bridge = value_of(cards["bridge_a"])
    assert any(bridge in (p.source.pk, p.target.pk) for p in quality.closest_pairs(study))
    Value.objects.filter(pk=bridge).update(hidden_at=timezone.now())
    pairs = quality.closest_pairs(study)
    assert pairs and all(bridge not in (p.source.pk, p.target.pk) for p in pairs)


def test_a_participants_different_flags_the_merge(staff, deduped):
    study, cards = deduped
    merge = ValueMerge.objects.get(study=study)
    again = cards["again"]
    # Someone else calls it different, then the card's own author does.
    MergeCheck.objects.create(
        study=study,
        participant=factories.ParticipantFactory(study=study),
        card=again,
        value=merge.into_value,
        merge=merge,
        answer=MergeCheck.Answer.DIFFERENT,
    )
    (row,) = quality.loosest_merges(study)
    assert (row.same, row.different, row.rejected_by_author) == (0, 1, False)

    MergeCheck.objects.create(
        study=study,
        participant=again.participant,
        card=again,
        value=merge.into_value,
        answer=MergeCheck.Answer.DIFFERENT,
    )
    (row,) = quality.loosest_merges(study)
    assert (row.same, row.different, row.rejected_by_author) == (0, 2, True)
    page = staff.get("/research/dq/quality/").content.decode()
    assert "Rejected by its card&#x27;s author" in page or "Rejected by its card's author" in page
    assert "0 same, 2 different" in page


def test_a_merge_by_hand_is_logged_and_changes_the_next_snapshot(
    staff, graph_study, queued, django_capture_on_commit_callbacks
):
    study, question, context, (a, b, c) = graph_study
    before = scoring.score_study(study=study)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            "/research/graph/quality/merge/",
            {"source": b.pk, "target": a.pk, "reason": "Both are about being there"},
        )

    assert response.status_code == 302 and response["Location"] == "/research/graph/quality/"
    merge = ValueMerge.objects.get(study=study, from_value=b)
    assert merge.into_value == a and merge.decided_by == "researcher"
    entry = AuditEntry.objects.get(study=study)
    assert (entry.action, entry.actor_name, entry.reason) == (
        "merge",
        "researcher",
        "Both are about being there",
    )
    assert (entry.target_type, entry.target_id) == ("valuemerge", str(merge.pk))
    assert entry.details["into_value"] == a.pk and entry.created_at is not None
    assert ("moralgraph.tasks.score_study", (study.pk,), 30) in queued  # rescoring follows
    after = scoring.score_study(study=study)
    assert after.input_hash != before.input_hash
    page = staff.get("/research/graph/quality/").content.decode()
    assert "Both are about being there" in page and "Merged two values" in page

    response = staff.post(f"/research/graph/quality/merges/{merge.pk}/split/", {"reason": ""}, **HX)

    assert response.status_code == 200
    assert 'id="quality-lists"' in response.content.decode()
    assert "Split: 1 card(s) back in their own value" in response.content.decode()
    split = AuditEntry.objects.filter(study=study).first()
    assert split.action == "split" and split.reason.startswith("A loose merge")
    assert split.details["cards"] == merge.card_ids
    # The same inputs as before the merge: the snapshot scored then.
    assert scoring.score_study(study=study).input_hash == before.input_hash
    assert GraphSnapshot.latest_for(study) is not None


def test_merging_by_hand_takes_the_roots_and_refuses_nonsense(staff, deduped):
    study, cards = deduped
    root = value_of(cards["first"])
    merged_away = ValueMerge.objects.get(study=study).from_value
    faith = Value.objects.get(pk=value_of(cards["faith"]))

    # The merged-away value stands for the value it joined: the faith value joins it.
    staff.post("/research/dq/quality/merge/", {"source": faith.pk, "target": merged_away.pk})
    assert value_of(cards["faith"]) == root

    # Two values that are one already, the same value twice, another study's value.
    response = staff.post(
        "/research/dq/quality/merge/", {"source": merged_away.pk, "target": root}, **HX
    )
    assert response.status_code == 400
    assert "two different values of this study" in response.content.decode()
    response = staff.post("/research/dq/quality/merge/", {"source": root, "target": root}, **HX)
    assert response.status_code == 400
    other = factories.ValueFactory()
    response = staff.post("/research/dq/quality/merge/", {"source": other.pk, "target": root}, **HX)
    assert response.status_code == 400 and "Choose two values" in response.content.decode()
    assert staff.post("/research/dq/quality/merge/", {"source": "x"}, **HX).status_code == 400
    assert AuditEntry.objects.filter(study=study).count() == 1


def test_a_busy_study_says_so(staff, deduped, monkeypatch):
    study, cards = deduped

    def busy(**kwargs):
        raise StudyBusy(study.slug)

    monkeypatch.setattr(merges, "merge_by_hand", busy)
    monkeypatch.setattr(merges, "split_merge", busy)
    a, b = (value_of(cards[n]) for n in ("first", "faith"))
    response = staff.post("/research/dq/quality/merge/", {"source": b, "target": a}, **HX)
    assert response.status_code == 409 and "being reconciled" in response.content.decode()
    merge = ValueMerge.objects.get(study=study)
    response = staff.post(f"/research/dq/quality/merges/{merge.pk}/split/", **HX)
    assert response.status_code == 409
    assert not AuditEntry.objects.exists()
    assert CardMapping.objects.filter(card__study=study, undone_at=None).count() == 3
    assert selectors.value_roots(study)  # nothing moved
