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


def _moderated_by_the_orm(study) -> set[int]:
    """The moderation rule as the ORM says it (the statement's oracle): hidden, or with
    cards mapped but none counted (not hidden, not a test participant's)."""
    from django.db.models import Exists, OuterRef

    from moralgraph.models import CardMapping

    mapped = CardMapping.objects.filter(value=OuterRef("pk"), undone_at=None)
    counted = mapped.filter(card__hidden_at=None).exclude(card__participant__is_test=True)
    orphaned = Value.objects.filter(study=study).filter(Exists(mapped)).exclude(Exists(counted))
    hidden = Value.objects.filter(study=study, hidden_at__isnull=False)
    return set(hidden.values_list("pk", flat=True)) | set(orphaned.values_list("pk", flat=True))


@pytest.mark.parametrize("seed", range(4))
def test_the_moderated_values_are_the_rule_s_every_way_a_value_can_be_kept_or_left(seed):
    import random

    from django.utils import timezone

    from moralgraph.models import CardMapping

    rng = random.Random(seed)
    study = factories.StudyFactory()
    other = factories.StudyFactory()  # its values never count for the first
    question = factories.QuestionFactory(study=study)
    real = factories.ParticipantFactory(study=study, question=question)
    tester = factories.ParticipantFactory(study=study, question=question, is_test=True)
    for _ in range(24):
        value = factories.ValueFactory(study=rng.choice([study, study, study, other]))
        if rng.random() < 0.2:
            Value.objects.filter(pk=value.pk).update(hidden_at=timezone.now())
        for _ in range(rng.randrange(4)):  # none, or up to three cards
            card = factories.ValuesCardFactory(
                study=value.study,
                question=question,
                # A real participant's, a test participant's, or an imported one's (none).
                participant=rng.choice([real, tester, None]),
                hidden_at=timezone.now() if rng.random() < 0.3 else None,
            )
            CardMapping.objects.create(
                card=card, value=value, undone_at=timezone.now() if rng.random() < 0.25 else None
            )
    expected = _moderated_by_the_orm(study)
    assert selectors.moderated_value_ids(study) == expected
    assert selectors.moderated_value_ids(other) == _moderated_by_the_orm(other)
    assert expected  # the mixture holds some of each
    assert expected != set(Value.objects.filter(study=study).values_list("pk", flat=True))
