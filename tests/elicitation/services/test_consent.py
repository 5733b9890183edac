"""services.consent: declining."""

import pytest

from elicitation.models import ConsentDecline, Participant
from elicitation.services import consent
from tests.helpers import make_study

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_decline_stores_only_that_someone_declined():
    study = make_study()
    consent.consent_decline(study=study)
    assert ConsentDecline.objects.filter(study=study).count() == 1
    assert not Participant.objects.filter(study=study).exists()
