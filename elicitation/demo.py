"""The demo study: the three questions of the method's paper, with a few invented values,
contexts and upgrade stories per question so that the selection and "wiser or not?"
steps have something to show on a fresh install.

Every text below is invented for the demo; none comes from a real participant.
"""

from django.db import transaction
from django.utils import timezone

from elicitation.llm import embeddings
from elicitation.models import Question, Study, ValuesCard
from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value

DEMO_SLUG = "demo"
DEMO_MARK = "demo"  # external_id prefix of the seeded rows, so reloading finds them

DEMO_QUESTIONS = [
    {
        "key": "abortion",
        "title": "Considering an abortion",
        "text": "I am a Christian girl and am considering getting an abortion. What should I do?",
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

# question key -> (title, description, policies)
DEMO_VALUES = {
    "abortion": [
        (
            "Informed Autonomy",
            "Helping her see her options clearly, so that the choice is truly hers.",
            [
                "OPTIONS she may not know about, and what each would mean for her life",
                "FEELINGS of being pressured by others that might cloud her judgement",
                "MOMENTS where she can think without anyone watching",
            ],
        ),
        (
            "Faith as a Living Guide",
            "Taking her faith seriously as a source of wisdom, not as a rulebook used against her.",
            [
                "PASSAGES and traditions in her faith that speak of mercy and care",
                "PEOPLE in her church she trusts to listen without judging",
                "DOUBTS she has about what her faith asks of her, held gently",
            ],
        ),
        (
            "Steady Support Network",
            "Making sure she does not have to face this alone, whatever she decides.",
            [
                "PEOPLE in her life who would stand by her either way",
                "PRACTICAL help each path would need: money, time, care",
                "SIGNS that she feels isolated or ashamed",
            ],
        ),
        (
            "Honest Consequences",
            "Being truthful about what each path would bring, so nothing surprises her later.",
            [
                "FACTS about the medical options and their risks, stated plainly",
                "LONG-TERM effects on her health, relationships and plans",
                "QUESTIONS she would want answered if she looked back in five years",
            ],
        ),
        (
            "Compassion Without Judgement",
            "Meeting her with warmth whichever way she is leaning.",
            [
                "WORDS that could sound like blame and make her close up",
                "HER OWN sense of what is right, in her own words",
                "SPACE to change her mind without losing face",
            ],
        ),
    ],
    "homework": [
        (
            "Curiosity Before Control",
            "Understanding what draws the child to the computer before trying to change it.",
            [
                "INTERESTS on the computer that could connect to learning",
                "REASONS the homework feels pointless or too hard to him",
                "MOMENTS when he lights up and wants to explain something",
            ],
        ),
        (
            "Trusting Relationship",
            "Keeping the relationship strong enough that guidance can land.",
            [
                "TONE of homework conversations, and whether they end in shouting",
                "TIME spent together that is not about tasks",
                "SIGNS that he feels heard rather than managed",
            ],
        ),
        (
            "Shared Structure",
            "Building routines with the child rather than for him.",
            [
                "AGREEMENTS he helped make and is therefore more likely to keep",
                "RHYTHMS in the day that leave room for both play and work",
                "SMALL wins that show him he can do hard things",
            ],
        ),
        (
            "Growing Independence",
            "Helping him learn to manage himself, not just to obey.",
            [
                "CHOICES he can make on his own about when and how to work",
                "MISTAKES he can learn from without a big penalty",
                "PLANNING skills he is ready to practise at ten",
            ],
        ),
        (
            "Seeing the Whole Child",
            "Noticing what else might be going on behind the behaviour.",
            [
                "WORRIES at school, with friends or at home that he has not mentioned",
                "SIGNS of tiredness, boredom or a learning difficulty",
                "TEACHERS who could share what they see in class",
            ],
        ),
    ],
    "january-6": [
        (
            "Accurate Public Record",
            "Giving well-sourced facts so that people can form their own view.",
            [
                "SOURCES such as court records and official investigations",
                "DETAILS that are confirmed, as distinct from those still disputed",
                "NUMBERS given together with where they came from",
            ],
        ),
        (
            "Calm Clarity on Hard Topics",
            "Answering plainly without inflaming an already divided conversation.",
            [
                "WORDS that are loaded for one side or the other",
                "CONTEXT that helps the reader understand without taking sides",
                "TONE that stays steady and respectful",
            ],
        ),
        (
            "Care for Real Harm",
            "Remembering the people who were hurt while describing what happened.",
            [
                "PEOPLE injured on the day, including the officers who responded",
                "DETAILS that could glorify violence if told carelessly",
                "CONSEQUENCES that followed for those involved",
            ],
        ),
        (
            "Respect for the Asker",
            "Assuming good faith and answering the question that was actually asked.",
            [
                "REASONS someone might be asking: study, worry or curiosity",
                "FOLLOW-UP questions the person may want answered next",
                "LEVEL of detail that fits the question",
            ],
        ),
    ],
}

DEMO_CONTEXTS = {
    "abortion": [
        "When the user is facing a hard personal decision",
        "When the user's faith bears on the choice",
    ],
    "homework": ["When a parent is guiding a child"],
    "january-6": [
        "When seeking factual information about a contested event",
        "When the topic is politically divisive",
    ],
}

# (question key, context index, from value index, to value index, story)
DEMO_STORIES = [
    (
        "abortion",
        0,
        3,
        0,
        "I used to think the kindest thing was to lay out every fact and consequence. "
        "When a close friend faced this choice, I saw that the facts only helped once she "
        "felt the decision was really hers. I still care about honesty, but now I first "
        "make sure she has room to choose.",
    ),
    (
        "abortion",
        0,
        0,
        3,
        "I used to focus on giving people space to decide for themselves. When my cousin "
        "chose quickly and later felt nobody had told her what it would really involve, I "
        "realised that space without honest information can leave someone alone. Now I "
        "make sure the hard facts are there too.",
    ),
    (
        "abortion",
        1,
        1,
        4,
        "I used to start from what my faith teaches. When a young woman in my congregation "
        "came to me in tears, I saw that she needed to feel loved before she could hear "
        "anything else. My faith hasn't gone anywhere; it shows up now as warmth first.",
    ),
    (
        "abortion",
        0,
        2,
        0,
        "I used to believe that the most important thing was to surround someone with "
        "support. Then a friend told me everyone's support felt like pressure. Now I still "
        "care who is around her, but I watch for whether she gets to think on her own.",
    ),
    (
        "homework",
        0,
        2,
        0,
        "I used to think the answer was a good routine we agreed on together. My daughter "
        "kept the routine but hated every minute of it. When I got curious about what she "
        "loved online, homework stopped being a fight, and the routine got easier too.",
    ),
    (
        "homework",
        0,
        0,
        2,
        "I used to let my son's interests lead everything. He was happy, but he never "
        "learnt to push through something dull. Agreeing on a simple routine with him kept "
        "the curiosity and gave him a way to finish things.",
    ),
    (
        "homework",
        0,
        1,
        4,
        "I used to think a good relationship was all that mattered. Then I found out my "
        "son had been struggling to read the board at school for months. Now I watch for "
        "what might be going on behind the behaviour, not only for how we get along.",
    ),
    (
        "january-6",
        0,
        1,
        0,
        "I used to keep answers about that day short and calm to avoid a fight. A student "
        "asked me for details for a history essay, and vague answers left her confused. "
        "Now I give sourced facts, and I find that staying precise is what keeps it calm.",
    ),
    (
        "january-6",
        0,
        0,
        1,
        "I used to answer with as many facts as I could find. A relative who was upset "
        "about that day heard my list as an attack. Now I still give the facts, but I pay "
        "attention to tone and to words that sound like taking sides.",
    ),
    (
        "january-6",
        1,
        3,
        2,
        "I used to just answer whatever was asked, as precisely as I could. Talking with "
        "an officer who had been there, I saw how a list of weapons can forget the people "
        "on the other end. Now I answer the question and keep the harm in view.",
    ),
]


@transaction.atomic
def load_demo_study() -> Study:
    """Create the demo study, or bring its questions and seeded graph back to the demo's;
    idempotent."""
    study, _ = Study.objects.get_or_create(
        slug=DEMO_SLUG,
        defaults={
            "title": "How should AI answer hard questions?",
            "description": "A demonstration study with the three questions of the Moral "
            "Graph Elicitation paper.",
            "status": Study.Status.LIVE,
            "is_public": True,
            "completion_code": "DEMO2026",
        },
    )
    # Listed on the home page, also when loaded before studies had to be marked public.
    # (Its status is left alone: a researcher may have moved it on since.)
    if not study.is_public:
        Study.objects.filter(pk=study.pk).update(is_public=True)
        study.is_public = True
    questions = {}
    for position, question in enumerate(DEMO_QUESTIONS):
        questions[question["key"]], _ = Question.objects.update_or_create(
            study=study,
            key=question["key"],
            defaults={**{k: v for k, v in question.items() if k != "key"}, "position": position},
        )
    _seed_graph(study, questions)
    return study


def _seed_graph(study: Study, questions: dict[str, Question]) -> None:
    """Values (each with the invented card it came from), contexts and upgrade stories."""
    now = timezone.now()
    values: dict[str, list[Value]] = {}
    for key, items in DEMO_VALUES.items():
        question = questions[key]
        values[key] = []
        for index, (title, description, policies) in enumerate(items):
            mark = f"{DEMO_MARK}:{key}:{index}"
            blob = embeddings.to_bytes(
                embeddings.local_embedding(embeddings.card_text(title, description, policies))
            )
            card, _ = ValuesCard.objects.update_or_create(
                study=study,
                external_id=mark,
                defaults={
                    "question": question,
                    "title": title,
                    "description": description,
                    "policies": policies,
                    "status": ValuesCard.Status.SUBMITTED,
                    "submitted_at": now,
                    "embedding": blob,
                    "embedding_model": "local-hash-256",
                    "embedded_at": now,
                    "reconcile_status": ValuesCard.Reconcile.DONE,
                    "reconciled_at": now,
                },
            )
            value, _ = Value.objects.update_or_create(
                study=study,
                external_id=mark,
                defaults={
                    "title": title,
                    "description": description,
                    "policies": policies,
                    "representative_card": card,
                    "embedding": blob,
                    "is_active": True,
                },
            )
            if not CardMapping.objects.filter(card=card, undone_at=None).exists():
                CardMapping.objects.create(card=card, value=value, mapped_by="import")
            values[key].append(value)

    contexts: dict[str, list[Context]] = {}
    for key, texts in DEMO_CONTEXTS.items():
        contexts[key] = []
        for text in texts:
            context, _ = Context.objects.get_or_create(
                study=study, text=text, defaults={"source": Context.Source.QUESTION}
            )
            context.questions.add(questions[key])
            contexts[key].append(context)

    for key, context_index, from_index, to_index, story in DEMO_STORIES:
        from_value, to_value = values[key][from_index], values[key][to_index]
        # The second story on a pair is the other direction of the first.
        reverse = UpgradeHypothesis.objects.filter(
            from_value=to_value, to_value=from_value
        ).exists()
        UpgradeHypothesis.objects.update_or_create(
            from_value=from_value,
            to_value=to_value,
            context=contexts[key][context_index],
            defaults={
                "study": study,
                "story": story,
                "direction": (
                    UpgradeHypothesis.Direction.REVERSE
                    if reverse
                    else UpgradeHypothesis.Direction.FORWARD
                ),
                "model": "demo",
                "is_active": True,
                "external_id": f"{DEMO_MARK}:{key}:{from_index}-{to_index}",
            },
        )
