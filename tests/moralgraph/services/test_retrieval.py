"""Hybrid retrieval: words (BM25) and embedding, fused by reciprocal rank."""

import numpy as np
import pytest

from elicitation.llm import embeddings
from moralgraph.services import retrieval
from moralgraph.services.retrieval import HybridIndex

CARDS = {
    1: ("Informed Autonomy", "", ["FEELINGS of pressure", "OPTIONS she has not considered"]),
    2: ("Faithful Discernment", "", ["PRAYER with her community", "SCRIPTURE on mercy"]),
    3: ("Steady Support", "", ["PARENTS who could help", "SIBLINGS she confides in"]),
}


def vector(text: str) -> np.ndarray:
    return np.asarray(embeddings.local_embedding(text))


def index_of(cards=CARDS) -> HybridIndex:
    index = HybridIndex()
    for value_id, (title, description, policies) in cards.items():
        index.add(
            ("card", value_id),
            value_id,
            vector(embeddings.card_text(title, description, policies)),
            title=title,
            description=description,
            policies=policies,
        )
    return index


def search(index, title, policies, **options):
    options = {"k": 12, "min_similarity": 0.45, "min_overlap": 0.2, **options}
    text = embeddings.card_text(title, "", policies)
    return index.search(vector(text), retrieval.words(title, "", policies), **options)


def test_words_drop_stopwords_and_a_plural_s():
    assert retrieval.words("The Feelings", "of her", ["OPTIONS she has"]) == ["feeling", "option"]


def test_a_card_that_keeps_a_rare_word_is_found_by_its_words():
    index = index_of()
    # Otherwise worded: the embedding alone would not reach the threshold.
    (found,) = search(index, "Mercy", ["SCRIPTURE read aloud"])
    assert found.value_id == 2
    assert found.similarity < 0.45
    assert found.overlap >= 0.2
    words = ["mercy", "scripture", "read", "aloud"]
    assert found.overlap == pytest.approx(index.overlap(index.weights(words), 1))


def test_nothing_passes_for_a_card_about_something_else():
    assert search(index_of(), "Honest Money", ["BUDGETS and debts"]) == []


def test_candidates_are_ranked_capped_and_one_per_value():
    index = index_of()
    # A second member of value 1, and a merge of value 3 into value 1.
    index.add(("card", 4), 1, vector("OPTIONS she has not considered"), policies=["OPTIONS"])
    index.move(3, 1)
    found = search(index, "Options", ["OPTIONS she has not considered", "PARENTS"])
    assert [c.value_id for c in found] == [1]
    assert found[0].member in {("card", 1), ("card", 4)}
    assert len(search(index, "x", ["OPTIONS PRAYER PARENTS"], k=1, min_overlap=0.0)) == 1


def test_members_added_after_the_bm25_index_score_as_if_indexed(monkeypatch):
    monkeypatch.setattr(retrieval, "REBUILD_MIN", 2)
    cards = {i: (f"Title {i}", "", [f"WORD{i} shared", f"OTHER{i}"]) for i in range(1, 9)}
    index = index_of(cards)
    query = ["word7", "shared"]
    index._lexical(query)  # built now, over the eight
    assert index._built == 8
    # A twin of card 7, and a shorter card with its two words, after the build.
    index.add(("card", 9), 9, vector("twin"), title="Title 7", policies=cards[7][2])
    index.add(("card", 10), 10, vector("short"), policies=["WORD7 shared"])
    fresh = index._lexical(query)
    assert index._built == 8
    assert fresh[8] == pytest.approx(fresh[6], rel=1e-5)  # the same words, the same score
    monkeypatch.setattr(retrieval, "REBUILD_MIN", 0)
    monkeypatch.setattr(retrieval, "REBUILD_SHARE", 0.0)
    index.add(("card", 11), 11, vector("other"), policies=["UNRELATED"])
    rebuilt = index._lexical(query)
    assert index._built == 11
    assert np.argsort(-fresh, kind="stable")[:3].tolist() == [9, 6, 8]
    assert np.argsort(-rebuilt, kind="stable")[:3].tolist() == [9, 6, 8]


def test_a_dropped_member_is_not_found():
    index = index_of()
    index.drop(("card", 2))
    assert search(index, "Faithful Discernment", CARDS[2][2]) == []
