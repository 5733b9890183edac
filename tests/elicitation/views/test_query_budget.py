"""Queries per request along the participant journey, each held to a budget.

Under load (hundreds of participants on a small server) the web processes' CPU is the
bottleneck, and every query costs some of it: building the SQL, the round trip,
turning rows into objects. These budgets are the counts once the repeated reads were
taken out; a change that adds a query to a participant's request fails here, and
either takes it out again or raises the budget on purpose, in the same commit.

Transactional, like production: BEGIN and COMMIT are counted, and what runs on commit
runs. The replies' Server-Sent Events are not budgeted: how often a streamed reply is
saved depends on timing. Nor is the transaction id a POST's writing transaction asks for
before its COMMIT (``config.postgresql``, so that a COMMIT cut by a restart can be told
landed or not): it goes on the raw connection, one round trip with no SQL to build.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from elicitation.models import JudgmentAssignment, Participant
from tests.helpers import ANSWERS, BOOSTED, card_data, participant_of, say, stream, url

Step = Participant.Step

pytestmark = pytest.mark.django_db(transaction=True)

# Request -> the most queries it may make (the session's own save included). Before the
# budgets: POST interview 26 a message, POST about 15, POST question 14, POST judgments 13.
# A step sent answers with the next step (views.common.show_at_once), so its budget holds
# both: before that, POST about 10 and then GET question 3, in two requests. The next
# step reuses the study and the participant the step sent just read and saved (before:
# POST consent 21, about 11, question 14, card 20, survey 16); the judgments page reads
# what is left and the total in one query (before: POST judgments 13, selection 23).
# "See my card" answers with the card page too, since the card view is a sync one
# (before: 22, and then GET card 4 in a second request).
# The study is read on every request here (STUDY_CACHE_SECONDS=0), as once the cache
# time is over: with the cache each request makes one query less.
BUDGETS = {
    "GET entry": 6,
    "GET consent": 2,
    "POST consent": 19,
    "POST about": 10,
    "POST question": 13,
    "POST interview": 15,
    "POST interview/card": 24,
    "GET card": 4,
    "POST card": 19,
    "POST selection": 21,
    "POST judgments": 11,
    "POST judgments (the last)": 12,
    "POST survey": 15,
}

# A message sent from the page: its two bubbles come back as a partial.
TRANSCRIPT = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "transcript"}


class Walk:
    """The test client's requests, each measured against its budget."""

    def __init__(self, client):
        self.client = client
        self.over = []

    def __call__(self, label, method, path, data=None, **headers):
        with CaptureQueriesContext(connection) as queries:
            if method == "say":
                response = say(self.client, *path, **headers)
            else:
                response = getattr(self.client, method)(path, data or {}, **headers)
        assert response.status_code in (200, 302), (label, response.status_code)
        if len(queries) > BUDGETS[label]:
            sql = "\n  ".join(q["sql"][:200] for q in queries.captured_queries)
            self.over.append(f"{label}: {len(queries)} queries (budget {BUDGETS[label]})\n  {sql}")
        return response


def test_each_request_of_the_journey_stays_within_its_query_budget(client, graph_study, settings):
    settings.STUDY_CACHE_SECONDS = 0
    study = graph_study
    walk = Walk(client)

    walk("GET entry", "get", url(study) + "?PROLIFIC_PID=budget&STUDY_ID=s&SESSION_ID=x")
    walk("GET consent", "get", url(study, "consent"))
    # Each step sent answers with the next one (views.common.show_at_once): the browser
    # makes no second request for it.
    walk("POST consent", "post", url(study, "consent"), {"action": "agree"}, **BOOSTED)
    walk("POST about", "post", url(study, "about"), {"action": "skip"}, **BOOSTED)
    walk("POST question", "post", url(study, "question"), **BOOSTED)
    for text in ANSWERS:
        response = walk("POST interview", "say", (study, text), **TRANSCRIPT)
        # The reply is written (streamed) before the next message, as on the page.
        (reply,) = re.findall(r'data-stream-url="([^"]+)"', response.content.decode())
        stream(client, reply.replace("&amp;", "&"))
    # Drafting waits on the model (an async view): it redirects, and the card is a GET.
    walk("POST interview/card", "post", url(study, "interview", "card"), **BOOSTED)
    walk("GET card", "get", url(study, "card"), **BOOSTED)
    walk("POST card", "post", url(study, "card"), card_data("submit"), **BOOSTED)
    walk("POST selection", "post", url(study, "selection"), **BOOSTED)
    participant = participant_of(client, study)
    assignments = list(JudgmentAssignment.objects.filter(participant=participant))
    assert len(assignments) > 1
    for n, assignment in enumerate(assignments, 1):
        label = "POST judgments (the last)" if n == len(assignments) else "POST judgments"
        data = {"hypothesis": assignment.hypothesis_id, "verdict": "upgrade"}
        walk(label, "post", url(study, "judgments"), data, **BOOSTED)
    walk("POST survey", "post", url(study, "survey"), **BOOSTED)

    assert participant_of(client, study).step == Step.DONE
    assert not walk.over, "\n".join(walk.over)
