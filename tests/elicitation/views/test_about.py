"""About you: the optional answers to the study's own items."""

import pytest

from elicitation.models import DemographicItem, Demographics, Participant
from tests.helpers import agree, make_study, url

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_about_you_asks_what_the_study_configures(client):
    study = make_study()
    study.demographic_items.exclude(key__in=["age_band", "other"]).delete()
    agree(client, study)
    html = client.get(url(study, "about")).content.decode()
    assert 'name="age_band"' in html and 'name="other"' in html
    assert 'name="political_affiliation"' not in html


def test_about_you_shows_a_study_defined_item(client):
    study = make_study()
    DemographicItem.objects.create(
        study=study,
        key="region",
        label="Where in Finland do you live?",
        kind=DemographicItem.Kind.RADIO,
        choices=[["north", "North"], ["south", "South"]],
        position=9,
    )
    participant = agree(client, study)
    html = client.get(url(study, "about")).content.decode()
    assert "Where in Finland do you live?" in html and 'value="north"' in html
    # In the study's order: the new item comes after the default ones.
    assert html.index('name="other"') < html.index('name="region"')
    client.post(url(study, "about"), {"region": "south"})
    assert Demographics.objects.get(participant=participant).answers == {"region": "south"}


def test_about_you_saves_and_moves_on(client):
    study = make_study()
    participant = agree(client, study)
    response = client.post(
        url(study, "about"),
        {"political_affiliation": "independent", "age_band": "25-34", "country": "Chile"},
    )
    assert response["Location"] == url(study, "question")
    demographics = Demographics.objects.get(participant=participant)
    assert demographics.answers == {
        "political_affiliation": "independent",
        "age_band": "25-34",
        "country": "Chile",
    }


def test_about_you_can_be_skipped(client):
    study = make_study()
    agree(client, study)
    response = client.post(url(study, "about"), {"action": "skip", "country": "ignored"})
    assert response["Location"] == url(study, "question")
    assert Demographics.objects.get().answer("country") == ""


def test_about_you_rejects_an_unknown_choice_inline(client):
    study = make_study()
    agree(client, study)
    response = client.post(url(study, "about"), {"political_affiliation": "martian"})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
