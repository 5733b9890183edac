"""Rules the database holds, whatever code path writes the rows."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from elicitation.models import DemographicItem, Message, Participant, ValuesCard, WiserJudgment
from tests import factories

pytestmark = pytest.mark.django_db


def test_one_submitted_card_per_interview():
    card = factories.ValuesCardFactory(status=ValuesCard.Status.SUBMITTED)
    factories.ValuesCardFactory(interview=card.interview)  # a second draft is fine
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ValuesCardFactory(interview=card.interview, status=ValuesCard.Status.SUBMITTED)


def test_one_judgment_per_participant_per_hypothesis():
    hypothesis = factories.UpgradeHypothesisFactory()
    participant = factories.ParticipantFactory(study=hypothesis.study)
    key = WiserJudgment.make_pair_key(hypothesis.from_value_id, hypothesis.to_value_id)
    WiserJudgment.objects.create(
        participant=participant, hypothesis=hypothesis, pair_key=key, verdict="upgrade"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        WiserJudgment.objects.create(
            participant=participant, hypothesis=hypothesis, pair_key=key, verdict="no_upgrade"
        )


def test_a_participant_never_judges_the_same_pair_in_the_other_direction():
    forward = factories.UpgradeHypothesisFactory()
    reverse = factories.UpgradeHypothesisFactory(
        study=forward.study,
        from_value=forward.to_value,
        to_value=forward.from_value,
        context=forward.context,
    )
    participant = factories.ParticipantFactory(study=forward.study)
    key = WiserJudgment.make_pair_key(forward.from_value_id, forward.to_value_id)
    assert key == WiserJudgment.make_pair_key(reverse.from_value_id, reverse.to_value_id)
    WiserJudgment.objects.create(
        participant=participant, hypothesis=forward, pair_key=key, verdict="upgrade"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        WiserJudgment.objects.create(
            participant=participant, hypothesis=reverse, pair_key=key, verdict="upgrade"
        )


def test_the_same_recruiter_id_never_makes_two_participants():
    first = factories.ParticipantFactory(recruiter_pid="PID-1")
    factories.ParticipantFactory(study=first.study)  # anonymous ones do not collide
    factories.ParticipantFactory(study=first.study)
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ParticipantFactory(study=first.study, recruiter_pid="PID-1")
    assert Participant.objects.filter(study=first.study).count() == 3


def test_a_double_submitted_message_is_stored_once():
    interview = factories.InterviewFactory()
    Message.objects.create(interview=interview, seq=1, role="user", content="hi", client_token="t1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            interview=interview, seq=2, role="user", content="hi", client_token="t1"
        )


def test_a_hypothesis_needs_two_different_values():
    value = factories.ValueFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.UpgradeHypothesisFactory(study=value.study, from_value=value, to_value=value)


def test_study_model_for_prefers_the_study_override(settings):
    study = factories.StudyFactory(hypothesis_model="openai/gpt-4o-mini")
    assert study.model_for("hypothesis") == "openai/gpt-4o-mini"
    assert study.model_for("interview") == settings.LLM_INTERVIEW_MODEL


def test_every_new_study_gets_the_default_about_you_items():
    study = factories.StudyFactory()
    items = list(study.demographic_items.values_list("key", "kind"))
    assert items == [
        ("political_affiliation", "radio"),
        ("age_band", "select"),
        ("sex", "select"),
        ("country", "text"),
        ("other", "long_text"),
    ]
    study.save()  # saving again adds nothing
    assert study.demographic_items.count() == 5
    with pytest.raises(IntegrityError), transaction.atomic():
        DemographicItem.objects.create(study=study, key="sex", label="Again")


def test_a_studys_groups_must_be_answers_of_one_of_its_choice_items():
    study = factories.StudyFactory()
    study.full_clean()  # the defaults fit
    study.group_answers = ["democrat", "green"]
    with pytest.raises(ValidationError, match="green"):
        study.full_clean()
    study.group_item_key, study.group_answers = "country", ["Chile"]
    with pytest.raises(ValidationError, match="choice items"):
        study.full_clean()
    study.group_answers = "democrat"
    with pytest.raises(ValidationError):
        study.full_clean()
    study.group_item_key, study.group_answers = "", []
    study.full_clean()  # no groups at all is a choice too


def test_a_choice_item_needs_its_choices():
    study = factories.StudyFactory()
    item = DemographicItem(study=study, key="region", label="Region", kind="radio", choices=[])
    with pytest.raises(ValidationError):
        item.full_clean()
    item.choices = [["north", "North"]]
    item.full_clean()
    assert item.choice_label("north") == "North" and item.choice_label("x") == "x"
    with pytest.raises(ValidationError):
        DemographicItem(study=study, key="Bad Key", label="x", kind="text").full_clean()


@pytest.mark.parametrize(
    "slug", ["new", "api", "admin", "static", "members", "settings", "graph", "review", "s"]
)
def test_a_word_the_research_urls_use_is_no_study_slug(slug):
    study = factories.StudyFactory.build(slug=slug, title="T")
    with pytest.raises(ValidationError) as raised:
        study.full_clean()
    assert "a word the research pages use" in raised.value.message_dict["slug"][0]


def test_the_reserved_words_come_from_the_urlconf_and_others_are_fine():
    from elicitation.models.study import reserved_slugs, validate_study_slug

    words = reserved_slugs()
    # Every literal first segment of the site root and of /research/, and a study's pages.
    assert {"admin", "research", "accounts", "healthz", "s", "new", "quality"} <= words
    assert {"exports", "members", "settings", "report"} <= words
    validate_study_slug("grief-study")
    with pytest.raises(ValidationError):
        validate_study_slug("NEW")
    factories.StudyFactory.build(slug="grief-study", title="T").clean()
