"""bench/steps.py: every page of a journey timed in process, on a database of its own,
and the study it made removed (two participants, so the suite stays quick; the figures
themselves are read by hand)."""

import pytest

from tests.bench import support

pytestmark = pytest.mark.postgres

PAGES = {
    "GET entry",
    "GET consent",
    "POST consent",
    "POST question",
    "POST interview",
    "POST card",
    "POST selection",
    "POST judgments",
    "POST survey",
}


def test_every_page_of_the_journey_is_timed_and_the_study_removed():
    url = support.database_url("mge_steps_bench")
    try:
        figures = support.run("steps.py", "--participants", "2", "--database-url", url)
        assert set(figures["cpu_ms"]) >= PAGES
        assert all(ms > 0 for ms in figures["cpu_ms"].values())
        assert 0 < figures["burst_cpu_ms"] < figures["journey_cpu_ms"]
        assert support.studies_and_participants_left(url) == (0, 0)
    finally:
        support.drop(url)
