"""The follow-up: a finished participant sees where their value ended up in the scored
graph and answers whether that position is fair."""

import pytest
from django.utils import timezone

from elicitation.models import Participant, Study, SurveyAnswer, ValuesCard, WiserJudgment
from elicitation.services import participants, survey
from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value
from moralgraph.services import scoring
from tests import factories

pytestmark = pytest.mark.django_db
Step = Participant.Step
XSS = '<script>alert("x")</script>'


def _card_value(study, question, participant, title):
    card = ValuesCard.objects.create(
        study=study,
        participant=participant,
        question=question,
        title=title,
        description=f"What {title} attends to.",
        policies=["MOMENTS one", "MOMENTS two", "MOMENTS three"],
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now(),
        reconcile_status=ValuesCard.Reconcile.DONE,
    )
    value = Value.objects.create(
        study=study, title=title, description=card.description, policies=card.policies
    )
    CardMapping.objects.create(card=card, value=value)
    return card, value


@pytest.fixture
def study():
    """A finished participant whose value most people judged less wise than another's."""
    study = factories.StudyFactory(slug="fu", title="Follow-up study")
    question = factories.QuestionFactory(study=study, key="q", title="The question")
    context = Context.objects.create(study=study, text="When the stakes are high")
    context.questions.add(question)
    me = factories.ParticipantFactory(
        study=study, step=Step.DONE, question=question, recruiter_pid="PID-ME"
    )
    other = factories.ParticipantFactory(
        study=study, step=Step.DONE, question=question, recruiter_pid="PID-OTHER"
    )
    _, mine = _card_value(study, question, me, "Plain Facts " + XSS)
    _, theirs = _card_value(study, question, other, "Steady Care")
    story = UpgradeHypothesis.objects.create(
        study=study, from_value=mine, to_value=theirs, context=context, story="A story."
    )
    for _ in range(3):
        judge = factories.ParticipantFactory(study=study, step=Step.DONE)
        WiserJudgment.objects.create(
            participant=judge,
            hypothesis=story,
            pair_key=WiserJudgment.make_pair_key(mine.pk, theirs.pk),
            verdict="upgrade",
        )
    scoring.score_study(study=study)
    return study


def me(study) -> Participant:
    return Participant.objects.get(study=study, recruiter_pid="PID-ME")


def own_card(study) -> ValuesCard:
    return ValuesCard.objects.get(participant=me(study))


def in_session(client, participant):
    session = client.session
    session[f"mge.participant.{participant.study_id}"] = str(participant.public_id)
    session.save()


URL = "/s/fu/follow-up/"


def test_it_shows_the_card_and_where_its_value_sits(client, study):
    response = client.get(URL + "?PROLIFIC_PID=PID-ME")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Plain Facts &lt;script&gt;" in page and XSS not in page
    assert "When the stakes are high" in page
    assert "Judged wisest here: <strong>Steady Care</strong>" in page
    assert "judged these values wiser than yours" in page
    assert "Is the position of your value in the final graph fair?" in page
    assert 'name="fair" value="yes"' in page and 'name="fair_position"' in page
    [standing] = response.context["position"].standings
    assert standing.rank == 2 and standing.ranked == 2 and not standing.is_winner
    # The recruiter id tied this browser to the participant: the plain URL works now.
    assert client.get(URL).status_code == 200


def test_the_winner_is_told_so(client, study):
    client.get(URL + "?pid=PID-OTHER")
    page = client.get(URL).content.decode()
    assert "People judged your value the wisest here." in page


def test_it_stores_the_answer_and_keeps_the_survey(client, study):
    participant = me(study)
    SurveyAnswer.objects.create(participant=participant, represented=5, comment="thanks")
    in_session(client, participant)
    response = client.post(URL, {"fair": "yes", "fair_position": "4", "card": own_card(study).pk})
    assert response.status_code == 200
    assert "your answer is saved" in response.content.decode()
    answer = SurveyAnswer.objects.get(participant=participant)
    assert (answer.fair, answer.fair_position, answer.represented, answer.comment) == (
        True,
        4,
        5,
        "thanks",
    )
    assert answer.fair_answered_at is not None


def test_yes_or_no_is_enough_and_is_required(client, study):
    participant = me(study)
    in_session(client, participant)
    response = client.post(URL, {"fair_position": "4"})
    assert response.status_code == 400
    assert "Please answer yes or no." in response.content.decode()
    assert not SurveyAnswer.objects.exists()
    assert client.post(URL, {"fair": "no"}).status_code == 200
    answer = SurveyAnswer.objects.get(participant=participant)
    assert (answer.fair, answer.fair_position) == (False, None)
    assert "You answered no" in client.get(URL).content.decode()


def test_it_is_idempotent(client, study):
    participant = me(study)
    in_session(client, participant)
    for _ in range(2):
        assert client.post(URL, {"fair": "no", "fair_position": "2"}).status_code == 200
    assert SurveyAnswer.objects.filter(participant=participant).count() == 1
    assert SurveyAnswer.objects.get(participant=participant).fair_position == 2
    # Changing one's mind replaces the answer; still one row.
    client.post(URL, {"fair": "yes", "fair_position": "5"})
    assert list(SurveyAnswer.objects.values_list("fair", "fair_position")) == [(True, 5)]
    page = client.get(URL).content.decode()
    assert "You answered yes, 5 of 5" in page
    assert 'value="5" id="id_fair_position_4" checked' in page
    assert 'value="yes" id="id_fair_0" required checked' in page


def test_the_service_is_idempotent_too(study):
    participant = me(study)
    first = survey.follow_up_save(participant=participant, fair=True, fair_position=3)
    second = survey.follow_up_save(participant=participant, fair=True, fair_position=3)
    assert first.pk == second.pk and (second.fair, second.fair_position) == (True, 3)
    assert second.fair_answered_at == first.fair_answered_at  # unchanged: not answered anew


@pytest.mark.parametrize("value", ["0", "6", "abc"])
def test_it_rejects_a_bad_value(client, study, value):
    in_session(client, me(study))
    response = client.post(URL, {"fair": "yes", "fair_position": value})
    assert response.status_code == 400
    assert "Please choose a number from 1 to 5." in response.content.decode()
    assert not SurveyAnswer.objects.exists()


def test_the_service_rejects_a_bad_value(study):
    from django.core.exceptions import ValidationError

    for bad in (0, 6, True, "4"):
        with pytest.raises(ValidationError):
            survey.follow_up_save(participant=me(study), fair_position=bad)
    for bad in ("yes", 1):
        with pytest.raises(ValidationError):
            survey.follow_up_save(participant=me(study), fair=bad)
    with pytest.raises(ValidationError):
        survey.follow_up_save(participant=me(study))  # no answer at all


def test_anothers_card_is_404(client, study):
    in_session(client, me(study))
    theirs = ValuesCard.objects.get(participant__recruiter_pid="PID-OTHER")
    response = client.post(URL, {"fair": "yes", "card": theirs.pk})
    assert response.status_code == 404
    assert not SurveyAnswer.objects.exists()


def test_unknown_and_other_studies_ids_are_404(client, study):
    assert client.get(URL).status_code == 404  # nobody in this session
    assert client.get(URL + "?PROLIFIC_PID=PID-NOBODY").status_code == 404
    other_study = factories.StudyFactory(slug="elsewhere")
    stranger = factories.ParticipantFactory(
        study=other_study, step=Step.DONE, recruiter_pid="PID-ELSEWHERE"
    )
    assert client.get(URL + "?PROLIFIC_PID=PID-ELSEWHERE").status_code == 404
    in_session(client, stranger)  # a participant of another study is no one here
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"fair": "yes"}).status_code == 404


def test_an_unfinished_participant_goes_to_their_step(client, study):
    participant = me(study)
    Participant.objects.filter(pk=participant.pk).update(step=Step.SURVEY)
    in_session(client, participant)
    response = client.get(URL + "?PROLIFIC_PID=PID-ME", follow=True)
    assert response.redirect_chain[-1][0] == "/s/fu/survey/"
    response = client.post(URL, {"fair_position": "4"})
    assert response.status_code == 302 and response["Location"] == "/s/fu/survey/"
    assert not SurveyAnswer.objects.exists()
    with pytest.raises(participants.StepMismatch):
        survey.follow_up_save(participant=me(study), fair_position=4)


def test_the_link_never_hands_an_unfinished_participant_to_another_browser(client, study):
    Participant.objects.filter(recruiter_pid="PID-ME").update(step=Step.SURVEY)
    response = client.get(URL + "?PROLIFIC_PID=PID-ME", follow=True)
    assert response.redirect_chain[-1][0] == "/s/fu/resume/"
    assert client.get("/s/fu/survey/")["Location"] == "/s/fu/consent/"


def test_the_follow_up_link_binds_nothing_but_the_follow_up(client, study):
    assert client.get(URL + "?PROLIFIC_PID=PID-ME").status_code == 200
    assert client.get(URL).status_code == 200
    # The journey's pages (the done page and its completion code) still need the code.
    assert client.get("/s/fu/done/")["Location"] == "/s/fu/consent/"


def test_it_works_once_the_study_is_closed(client, study):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    in_session(client, me(study))
    assert client.get(URL).status_code == 200
    assert client.post(URL, {"fair": "yes", "fair_position": "3"}).status_code == 200
    assert SurveyAnswer.objects.get().fair_position == 3


def test_before_the_graph_is_scored_it_asks_nothing(client, study):
    study.snapshots.all().delete()
    in_session(client, me(study))
    page = client.get(URL).content.decode()
    assert "The graph isn't finished yet" in page and "fair_position" not in page
    assert 'name="fair"' not in page
    assert client.post(URL, {"fair": "yes"}).status_code == 409
    assert not SurveyAnswer.objects.exists()


def test_htmx_gets_the_step_partial(client, study):
    in_session(client, me(study))
    text = client.get(URL, headers={"HX-Request": "true"}).content.decode()
    assert text.lstrip().startswith('<section id="step"') and "<html" not in text
