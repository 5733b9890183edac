"""The personas of a simulated pilot: who the simulated participants are and how they
write. Every persona here is invented.

The style shapes what a persona types (the ``simulate`` stage's prompt says how):
terse, verbose, off-topic at first, pushing back on the questions, answering in
stories, answering in rules. Personas also differ in how long they talk, whether they
ask for a change to their card, how many values they pick as wise, and how they judge
upgrade stories, so a pilot meets the range of people a real study will.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Persona:
    key: str
    name: str
    background: str
    style: str
    story: str
    attends: tuple[str, ...]
    # Messages before pressing "See my card" (at least the study's minimum is sent).
    turns: int = 3
    edits_card: bool = False
    picks: int = 1  # values chosen as wise on the selection step
    # Leaning on "wiser or not?": "upgrade", "not_upgrade" or "unsure" (the others vary).
    leaning: str = "upgrade"
    writes_reasons: bool = False
    # Preferred answers on "About you", by item key; other items get a varied answer.
    about: dict[str, str] = field(default_factory=dict)

    def as_payload(self) -> dict:
        """What the ``simulate`` stage is told about the persona."""
        return {
            "name": self.name,
            "background": self.background,
            "style": self.style,
            "story": self.story,
            "attends": list(self.attends),
        }


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "nurse",
        "Retired nurse",
        "a retired nurse who worked thirty years on a maternity ward",
        "verbose",
        "A young patient once told me she had nobody to ask, so we sat together after my "
        "shift and went through every option until she could breathe again.",
        ("how frightened the person is", "who they can really lean on", "what they already know"),
        turns=4,
        edits_card=True,
        picks=2,
        writes_reasons=True,
        about={"political_affiliation": "democrat"},
    ),
    Persona(
        "mechanic",
        "Car mechanic",
        "a car mechanic who runs a small garage",
        "terse",
        "My brother had a hard call once. We talked in the garage.",
        ("what they want", "the facts", "time to think"),
        turns=3,
        picks=0,
        leaning="unsure",
        about={"political_affiliation": "republican"},
    ),
    Persona(
        "student",
        "Philosophy student",
        "a philosophy student in her second year",
        "pushback",
        "When my friend had to choose between two universities, everyone pushed her, and "
        "what helped was one person asking what she was afraid of losing.",
        ("whether the person feels pushed", "the reasons behind their fear", "their own words"),
        turns=4,
        edits_card=True,
        leaning="not_upgrade",
        writes_reasons=True,
        about={"political_affiliation": "independent"},
    ),
    Persona(
        "pastor",
        "Village pastor",
        "a pastor in a small village church",
        "storyteller",
        "A woman in my parish came to me in tears one winter; I listened more than I spoke, "
        "and in the end she found her own answer in her faith.",
        ("the person's faith as a comfort", "the community around them", "room to doubt"),
        turns=5,
        picks=2,
        about={"political_affiliation": "republican"},
    ),
    Persona(
        "gamer",
        "Teenage gamer",
        "a sixteen-year-old who plays online games every evening",
        "off_topic",
        "My mum took my laptop away once and I just got angrier, then she asked what I was "
        "building in the game and we actually talked.",
        ("what the kid is into", "being asked, not told", "a fair deal"),
        turns=4,
        leaning="not_upgrade",
        about={"political_affiliation": "other"},
    ),
    Persona(
        "lawyer",
        "Contract lawyer",
        "a contract lawyer who likes clear principles",
        "rules",
        "A client once asked me what she should do, and I found that laying out her "
        "rights plainly was what let her decide.",
        ("the person's rights", "accurate information", "consistency"),
        turns=3,
        edits_card=True,
        picks=1,
        about={"political_affiliation": "independent"},
    ),
    Persona(
        "teacher",
        "Primary school teacher",
        "a primary school teacher with twenty years in the classroom",
        "verbose",
        "A boy in my class refused every worksheet until I noticed he was drawing comics, "
        "so we made the maths into a comic strip and he never stopped after that.",
        ("what lights the child up", "small wins", "the relationship with the adult"),
        turns=4,
        picks=3,
        writes_reasons=True,
        about={"political_affiliation": "democrat"},
    ),
    Persona(
        "farmer",
        "Sheep farmer",
        "a sheep farmer in the hills",
        "terse",
        "Neighbour lost his farm. We helped with the move.",
        ("practical help", "pride", "what is really at stake"),
        turns=3,
        picks=1,
        about={"political_affiliation": "republican"},
    ),
    Persona(
        "nurse_aide",
        "Care home aide",
        "a care home aide who works night shifts",
        "storyteller",
        "One night an old man asked me if he had done right by his family, and I just held "
        "his hand and let him tell me about each of them.",
        ("loneliness", "the person's dignity", "what they are proud of"),
        turns=4,
        edits_card=True,
        picks=2,
        leaning="unsure",
        about={"political_affiliation": "other"},
    ),
    Persona(
        "engineer",
        "Software engineer",
        "a software engineer and father of two",
        "pushback",
        "My son wanted to quit football; I wanted to argue, but asking him why showed me "
        "he was being bullied.",
        ("evidence, not assumptions", "what the child says when not pressured", "trade-offs"),
        turns=5,
        picks=1,
        about={"political_affiliation": "democrat"},
    ),
    Persona(
        "activist",
        "Community organiser",
        "a community organiser in a large city",
        "rules",
        "I once helped a family navigate a housing crisis, and what mattered was that they "
        "made every decision themselves.",
        ("the person's autonomy", "their safety", "the support available nearby"),
        turns=4,
        picks=2,
        leaning="not_upgrade",
        writes_reasons=True,
        about={"political_affiliation": "democrat"},
    ),
    Persona(
        "retiree",
        "Retired soldier",
        "a retired soldier who now volunteers at a veterans' centre",
        "off_topic",
        "A young recruit came to me before a hard decision; I told him about my own "
        "mistakes, and he chose better than I had.",
        ("courage", "honesty about consequences", "loyalty to the people who depend on them"),
        turns=3,
        picks=1,
        about={"political_affiliation": "republican"},
    ),
)


def persona_for(index: int) -> Persona:
    """The persona of simulated participant number ``index``: the list, round and round."""
    return PERSONAS[index % len(PERSONAS)]
