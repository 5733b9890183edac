"""Judgments the graph tests share: hand-worked rows for compat, and two groups for
bridging."""

from moralgraph.graph import Judgment


def make_judgments(rows):
    return [Judgment(*row) for row in rows]


# Five values, two contexts, 19 judgments. Each pair is there for a reason:
#   a->b  2 upgrades (one per context)       kept
#   a->c  3 upgrades, 1 no_upgrade           kept
#   b->c  2 upgrades, 1 not_sure             kept
#   c->d  1 upgrade                          killed by markedWiser < 2
#   d->e and e->d, 2 upgrades each way       killed by wiserLikelihood < 0.33
#   b->e  2 upgrades, 1 no_upgrade, 1 unsure killed by entropy > 1.69
#   e->a  1 not_sure                         its reverse (a, e) has a zero denominator
COMPAT_ROWS = [
    ("a", "b", "c1", "upgrade"),
    ("a", "b", "c2", "upgrade"),
    ("a", "c", "c1", "upgrade"),
    ("a", "c", "c1", "upgrade"),
    ("a", "c", "c1", "upgrade"),
    ("a", "c", "c1", "no_upgrade"),
    ("b", "c", "c2", "upgrade"),
    ("b", "c", "c2", "upgrade"),
    ("b", "c", "c2", "not_sure"),
    ("c", "d", "c1", "upgrade"),
    ("d", "e", "c2", "upgrade"),
    ("d", "e", "c2", "upgrade"),
    ("e", "d", "c2", "upgrade"),
    ("e", "d", "c2", "upgrade"),
    ("b", "e", "c1", "upgrade"),
    ("b", "e", "c1", "upgrade"),
    ("b", "e", "c1", "no_upgrade"),
    ("b", "e", "c1", "not_sure"),
    ("e", "a", "c2", "not_sure"),
]


def bridging_judgments():
    # Context "split": group L says y is wiser than x (3 votes), group R says no (2 votes),
    # one participant without a group says yes: pooled 4/6 keeps the edge, but L alone
    # carries it. Context "shared": L 2/2 and R 2/3 agree; I has one vote, too few to count.
    rows = [("x", "y", "split", "upgrade", "L", f"l{i}") for i in range(3)]
    rows += [("x", "y", "split", "no_upgrade", "R", f"r{i}") for i in range(2)]
    rows += [("x", "y", "split", "upgrade", None, "n0")]
    rows += [("x", "y", "shared", "upgrade", "L", f"l{i}") for i in range(2)]
    rows += [("y", "x", "shared", "no_upgrade", "R", f"r{i}") for i in range(2)]
    rows += [("x", "y", "shared", "no_upgrade", "R", "r2")]
    rows += [("x", "y", "shared", "no_upgrade", "I", "i0")]
    return make_judgments(rows)
