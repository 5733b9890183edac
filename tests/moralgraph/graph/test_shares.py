import pytest

from moralgraph.graph.shares import Share, agreeing, legitimacy_share, share_of


def test_no_answers_give_no_share():
    assert legitimacy_share([]) == Share(yes=0, n=0, share=None, low=None, high=None)
    assert legitimacy_share([None, None]).share is None


def test_answers_four_and_five_agree_and_missing_answers_do_not_count():
    result = legitimacy_share([5, 4, 3, 1, None, 4])
    assert (result.yes, result.n, result.share) == (3, 5, 0.6)


def test_a_yes_no_item_counts_yes():
    assert agreeing(True) is True and agreeing(False) is False
    assert legitimacy_share([True, True, False, None]).share == pytest.approx(2 / 3)


def test_the_interval_is_wilsons():
    result = share_of(8, 10)
    assert (result.low, result.high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    unanimous = share_of(10, 10)
    assert unanimous.high == 1.0 and unanimous.low == pytest.approx(0.7225, abs=1e-4)


def test_out_of_range_answers_are_refused():
    with pytest.raises(ValueError):
        agreeing(6)
    with pytest.raises(ValueError):
        share_of(3, 2)
