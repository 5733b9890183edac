"""factory_boy factories for the rows most tests need. No personal data: every name
and text here is invented."""

import factory

from elicitation import models as e
from moralgraph import models as g


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = e.Study

    slug = factory.Sequence(lambda n: f"study-{n}")
    title = factory.Sequence(lambda n: f"Study {n}")
    status = e.Study.Status.LIVE


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = e.Question

    study = factory.SubFactory(StudyFactory)
    key = factory.Sequence(lambda n: f"question-{n}")
    title = factory.Sequence(lambda n: f"Question {n}")
    text = "My friend asked me for advice on a hard choice. What should I tell them?"


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = e.Participant

    study = factory.SubFactory(StudyFactory)


class InterviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = e.Interview

    participant = factory.SubFactory(ParticipantFactory)
    question = factory.SubFactory(
        QuestionFactory, study=factory.SelfAttribute("..participant.study")
    )


class ValuesCardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = e.ValuesCard

    interview = factory.SubFactory(InterviewFactory)
    participant = factory.SelfAttribute("interview.participant")
    study = factory.SelfAttribute("interview.participant.study")
    question = factory.SelfAttribute("interview.question")
    title = "Informed Autonomy"
    description = "Helping someone see their options clearly so the choice is theirs."
    policies = factory.LazyFunction(
        lambda: [
            "FEELINGS of being pressured that might cloud the choice",
            "OPTIONS the person has not yet considered",
            "PEOPLE who have faced the same choice and can share how it went",
        ]
    )


class ValueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = g.Value

    study = factory.SubFactory(StudyFactory)
    title = factory.Sequence(lambda n: f"Value {n}")
    description = "Attending to what matters in the moment."
    policies = factory.LazyFunction(lambda: ["MOMENTS when care is needed", "CHOICES made freely"])


class ContextFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = g.Context

    study = factory.SubFactory(StudyFactory)
    text = factory.Sequence(lambda n: f"When situation {n} arises")


class UpgradeHypothesisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = g.UpgradeHypothesis

    study = factory.SubFactory(StudyFactory)
    from_value = factory.SubFactory(ValueFactory, study=factory.SelfAttribute("..study"))
    to_value = factory.SubFactory(ValueFactory, study=factory.SelfAttribute("..study"))
    context = factory.SubFactory(ContextFactory, study=factory.SelfAttribute("..study"))
    story = "I used to focus on one thing, then I saw another that kept it and added more."
