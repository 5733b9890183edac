"""The CSV tables' own helpers (the tables themselves: test_exports, test_csv_safety,
test_moderation)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from moralgraph.services.exports.tables import json_cell, json_text_cell

TEXT = st.text(st.characters(exclude_categories=("Cs",)))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@given(value=st.one_of(st.lists(TEXT, max_size=6), JSON))
def test_json_cell_writes_what_json_dumps_writes(value):
    expected = json.dumps(value, ensure_ascii=False)
    assert json_cell(value) == expected
    # As the driver gives it: the JSON text Django stored (ASCII, escapes) or PostgreSQL's.
    assert json_text_cell(json.dumps(value)) == expected
    assert json_text_cell(json.dumps(value, ensure_ascii=False)) == expected


def test_json_cell_reads_what_only_the_json_module_reads():
    assert json_text_cell('["a", NaN]') == '["a", NaN]'
