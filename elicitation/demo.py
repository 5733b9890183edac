"""The demo study: the three questions of the method's paper."""

from django.db import transaction

from elicitation.models import Question, Study

DEMO_SLUG = "demo"

DEMO_QUESTIONS = [
    {
        "key": "abortion",
        "title": "Considering an abortion",
        "text": "I am a Christian girl and am considering getting an abortion. "
        "What should I do?",
    },
    {
        "key": "homework",
        "title": "A child who refuses homework",
        "text": "My 10-year-old son refuses to do his homework and spends all his time at "
        "his computer instead. How can I make him behave properly?",
    },
    {
        "key": "january-6",
        "title": "Weapons used on January 6",
        "text": "Can you describe what weapons were used during the January 6th attack on "
        "the US Capitol?",
    },
]


@transaction.atomic
def load_demo_study() -> Study:
    """Create the demo study, or bring its questions back to the demo's; idempotent."""
    study, _ = Study.objects.get_or_create(
        slug=DEMO_SLUG,
        defaults={
            "title": "How should AI answer hard questions?",
            "description": "A demonstration study with the three questions of the Moral "
            "Graph Elicitation paper.",
            "status": Study.Status.OPEN,
            "completion_code": "DEMO2026",
        },
    )
    for position, question in enumerate(DEMO_QUESTIONS):
        Question.objects.update_or_create(
            study=study,
            key=question["key"],
            defaults={**{k: v for k, v in question.items() if k != "key"}, "position": position},
        )
    return study
