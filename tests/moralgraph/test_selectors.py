"""Reads of the graph side: a value's root through merges, and the story shown for an edge."""

import pytest

from moralgraph import selectors
from moralgraph.models import Context, UpgradeHypothesis, Value, ValueMerge
from tests import factories
from tests.moralgraph.support import judge

pytestmark = pytest.mark.django_db


def _chain(study, n):
    """Values v0 .. vn, each merged into the next."""
    values = [
        Value.objects.create(study=study, title=f"V{i}", description="x") for i in range(n + 1)
    ]
    for source, target in zip(values, values[1:], strict=False):
        ValueMerge.objects.create(study=study, from_value=source, into_value=target)
    return values


def test_root_of_follows_a_long_chain_in_one_query(django_assert_max_num_queries):
    study = factories.StudyFactory()
    values = _chain(study, 12)
    with django_assert_max_num_queries(1):
        assert selectors.root_of(values[0].pk) == values[-1].pk
    with django_assert_max_num_queries(1):
        assert selectors.root_of(values[-1].pk) == values[-1].pk  # never merged: itself
    assert selectors.value_roots(study)[values[5].pk] == values[-1].pk


def test_root_of_stops_at_an_undone_merge_and_survives_a_cycle():
    study = factories.StudyFactory()
    a, b, c = _chain(study, 2)
    ValueMerge.objects.filter(from_value=b).update(undone_at=a.created_at)
    assert selectors.root_of(a.pk) == b.pk
    # A cycle would be a bug elsewhere; root_of must still return.
    ValueMerge.objects.create(study=study, from_value=b, into_value=a)
    assert selectors.root_of(a.pk) in (a.pk, b.pk)


@pytest.fixture
def storied():
    study = factories.StudyFactory()
    context = Context.objects.create(study=study, text="When it matters")
    twin = Context.objects.create(study=study, text="When it matters a lot", duplicate_of=context)
    a, b, c = (Value.objects.create(study=study, title=t, description="x") for t in "ABC")
    return study, context, twin, a, b, c


def _story(study, context, source, target, text):
    return UpgradeHypothesis.objects.create(
        study=study, from_value=source, to_value=target, context=context, story=text
    )


def test_the_story_of_an_edge_is_the_one_most_judged_an_upgrade(storied):
    study, context, twin, a, b, c = storied
    first = _story(study, context, a, b, "The first story.")
    second = _story(study, twin, a, b, "The story of the duplicate context.")
    judge(study, first, ["upgrade", "no_upgrade"], [None, None])
    judge(study, second, ["upgrade", "upgrade", "not_sure"], [None, None, None])

    story = selectors.EdgeStories(study).for_edge(context.pk, a.pk, b.pk)
    assert (story.text, story.upgrades, story.reverse) == (
        "The story of the duplicate context.",
        2,
        False,
    )


def test_on_a_tie_the_oldest_story_is_shown(storied):
    study, context, twin, a, b, c = storied
    _story(study, context, a, b, "Told first.")
    _story(study, twin, a, b, "Told later.")
    assert selectors.EdgeStories(study).for_edge(context.pk, a.pk, b.pk).text == "Told first."


def test_without_a_story_in_its_direction_the_other_way_round_is_shown(storied):
    study, context, twin, a, b, c = storied
    _story(study, context, b, a, "From B back to A.")
    stories = selectors.EdgeStories(study)

    story = stories.for_edge(context.pk, a.pk, b.pk)
    assert (story.text, story.reverse) == ("From B back to A.", True)
    assert stories.for_edge(context.pk, a.pk, c.pk) is None


def test_stories_follow_merged_values(storied):
    study, context, twin, a, b, c = storied
    _story(study, context, a, c, "From A to C.")
    ValueMerge.objects.create(study=study, from_value=c, into_value=b)
    story = selectors.EdgeStories(study).for_edge(context.pk, a.pk, b.pk)
    # C is B now: the story names the value by the title the graph has.
    assert story.text == "From A to B."


def test_a_story_names_a_merged_value_by_its_canonical_title():
    study = factories.StudyFactory()
    context = Context.objects.create(study=study, text="When it matters")
    old, kept, other = (
        Value.objects.create(study=study, title=t, description="x")
        for t in ("Gentle Honesty", "Caring Candour", "Quiet Patience")
    )
    _story(
        study,
        context,
        other,
        old,
        "Once I saw Gentle Honesty at work, QUIET PATIENCE felt like gentle honesty's start.",
    )
    ValueMerge.objects.create(study=study, from_value=old, into_value=kept)
    story = selectors.EdgeStories(study).for_edge(context.pk, other.pk, kept.pk)
    assert story.text == (
        "Once I saw Caring Candour at work, QUIET PATIENCE felt like Caring Candour's start."
    )
    assert "Gentle Honesty" not in story.text
