"""elicitation.cards: the one set of card rules, checked for participants and fitted for
model-written cards."""

import re

import jsonschema
import pytest
from django.core.exceptions import ValidationError

from elicitation import cards

GOOD = {
    "title": "Patient Listening",
    "description": "Giving her time to think.",
    "policies": ["MOMENTS of silence", "FEELINGS she names", "PEOPLE she trusts"],
}


def _errors(**change) -> dict:
    with pytest.raises(ValidationError) as invalid:
        cards.normalise(**{**GOOD, **change})
    return invalid.value.message_dict


def test_a_good_card_is_tidied_and_kept():
    card = cards.normalise(
        title="  Patient \n Listening ",
        description="  Giving her time to think.\n",
        policies=["MOMENTS  of\tsilence", "", "  ", "FEELINGS she names", "PEOPLE she trusts"],
    )
    assert card == GOOD


@pytest.mark.parametrize("title", ["", "Listening", "One Two Three Four Five Six"])
def test_the_title_has_two_to_five_words(title):
    assert _errors(title=title)["title"] == ["Give your card a short title (2 to 5 words)."]


def test_two_and_five_words_are_titles():
    assert cards.normalise(**{**GOOD, "title": "Quiet Care"})["title"] == "Quiet Care"
    five = "One Two Three Four Five"
    assert cards.normalise(**{**GOOD, "title": five})["title"] == five


def test_a_title_of_few_long_words_still_has_a_length_limit():
    title = "A " + "x" * cards.TITLE_MAX_CHARS
    assert "under 120 characters" in _errors(title=title)["title"][0]


def test_policies_number_three_to_seven_after_blanks_are_dropped():
    assert "this one has 2" in _errors(policies=["A", " ", "B"])["policies"][0]
    assert "this one has 8" in _errors(policies=[f"P{i}" for i in range(8)])["policies"][0]
    seven = [f"P{i}" for i in range(7)]
    assert cards.normalise(**{**GOOD, "policies": seven})["policies"] == seven


def test_each_length_limit_is_checked():
    assert "description" in _errors(description=" ")
    assert "description" in _errors(description="x" * (cards.DESCRIPTION_MAX_CHARS + 1))
    long_policy = "x" * (cards.POLICY_MAX_CHARS + 1)
    assert "policies" in _errors(policies=["A", "B", long_policy])


def test_a_model_written_card_is_fitted_not_refused():
    fitted = cards.fit(
        {
            "title": "  Long " + "t" * 200,
            "description": "d" * 5000,
            "policies": [" one ", "", "x" * 400, *[f"P{i}" for i in range(10)]],
        }
    )
    assert len(fitted["title"]) == cards.TITLE_MAX_CHARS
    assert len(fitted["description"]) == cards.DESCRIPTION_MAX_CHARS
    assert len(fitted["policies"]) == cards.MAX_POLICIES
    assert fitted["policies"][:2] == ["one", "x" * cards.POLICY_MAX_CHARS]
    assert cards.fit({}) == {"title": "", "description": "", "policies": []}


def test_the_json_schema_holds_the_same_rules():
    schema = cards.json_schema()
    jsonschema.validate(GOOD, schema)
    for bad in (
        {**GOOD, "title": "Listening"},
        {**GOOD, "title": "One Two Three Four Five Six"},
        {**GOOD, "policies": GOOD["policies"][:2]},
        {**GOOD, "policies": ["P"] * 8},
        {**GOOD, "description": " "},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    pattern = schema["properties"]["title"]["pattern"]
    assert all(re.search(pattern, t) for t in ("Quiet Care", "One Two Three Four Five"))


@pytest.mark.parametrize("text", ["", "   "])
def test_a_revise_request_needs_words(text):
    with pytest.raises(ValidationError) as invalid:
        cards.revise_request(text)
    assert invalid.value.message_dict == {"request": ["Say what you would like changed."]}


def test_a_revise_request_has_a_limit():
    assert cards.revise_request("  shorter please ") == "shorter please"
    with pytest.raises(ValidationError, match="under 1000 characters"):
        cards.revise_request("x" * (cards.REVISE_REQUEST_MAX_CHARS + 1))
