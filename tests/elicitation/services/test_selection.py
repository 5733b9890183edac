"""services.selection: choosing among the values drawn."""

import pytest
from django.core.exceptions import ValidationError

from elicitation.models import Impression, Participant, Selection
from elicitation.services import participants, selection
from tests import factories
from tests.helpers import fresh

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_selection_records_the_chosen_values_and_moves_on(selecting):
    participant, values = selecting
    shown = [i.value_id for i in Impression.objects.filter(participant=participant)]
    selection.selection_submit(participant=participant, value_ids=shown[:2])
    assert set(Selection.objects.values_list("value_id", flat=True)) == set(shown[:2])
    assert fresh(participant).step == Step.JUDGMENTS


def test_selecting_a_value_that_was_not_shown_is_not_found(selecting):
    participant, _ = selecting
    stranger = factories.ValueFactory(study=participant.study)
    with pytest.raises(participants.NotFound):
        selection.selection_submit(participant=participant, value_ids=[stranger.pk])
    assert not Selection.objects.exists()


def test_selection_asks_for_the_minimum(selecting):
    participant, _ = selecting
    with pytest.raises(ValidationError, match="at least 1"):
        selection.selection_submit(participant=participant, value_ids=[])
