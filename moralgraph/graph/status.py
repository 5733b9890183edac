"""Honest winners and DPO edges: what a context's fit lets us train on, and why not.

A context's status (README: "Statuses"), from its ContextFit and the PairwiseParams:

- ``confident``: the leader's winner probability is at least ``confident_probability``,
  and so is its share of resamples where it leads every other value by ``min_lead``;
  at least ``min_winner_votes`` decisive votes from ``min_winner_participants`` distinct
  people involve it; and it loses no head-to-head that has ``min_head_to_head_votes``
  decisive votes. Only these winners enter SFT and the constitution.
- ``contested``: the leader loses such a head-to-head, or another value's winner
  probability is at least ``challenger_probability``; the challenger and their votes are
  reported beside the leader.
- ``insufficient``: anything else, with what is missing in words.

Judgments still needed (one estimator, for the report and for adaptive elicitation to
refine). A context that is not confident needs more decisive votes on the pairs of its
leader against its challengers (the values with a winner probability of at least 5 %,
those that beat it head-to-head, else the runner-up; at most three). Two shortfalls:

1. counts: ``min_winner_votes`` minus the leader's decisive votes, or
   ``min_winner_participants`` minus its people, whichever is larger (new votes are
   assumed to come from new people);
2. evidence: while the winner probability is below ``confident_probability`` (or a
   challenger's reaches ``challenger_probability``), per challenger c (of k), the
   bootstrap gives the spread sd of the strength gap between leader and c; the gap beyond
   ``min_lead`` must be z = Phi^-1(1 - a / k) spreads wide, a being the doubt allowed
   (the smaller of 1 - confident_probability and challenger_probability), shared
   equally. Taking the gap as it is (but at least ``MIN_GAP``, the smallest lead worth
   settling: about 57 / 43 head-to-head), less ``min_lead``, and the spread as shrinking
   with the square root of the decisive votes n on either value, c needs
   n * (z * sd / gap)^2 - n more; and a head-to-head the
   leader loses by d votes needs (d + 1) / (2 p - 1) more, p being the share of that
   pair's votes the model expects for the leader (again with a gap of at least MIN_GAP).

The larger of the two totals (the evidence term is the largest challenger's; lost
head-to-heads add up), divided by the context's share of decisive judgments so far, is
the number of judgments. It is a rough forecast for votes on those pairs, not a promise:
a near-tie may need many more, and an honest answer may be that it never settles.
Checked against bench/adaptive.py's simulation under the adaptive draw (every 150
judgments of the clear contexts that settle, until they do; the stopping rule's three
looks included), the judgments it really took were a median 0.67 of the estimate
(quartiles 0.38 and 1.48; within a factor of two 42 % of the time); summing the
challengers' terms, as a first version did, gave 0.57 and 36 %. Of the contexts that
never settled, 29 % were told they needed more than the cap left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from moralgraph.graph.pairwise import ContextFit, PairwiseParams

CONFIDENT, CONTESTED, INSUFFICIENT = "confident", "contested", "insufficient"
STATUSES = (CONFIDENT, CONTESTED, INSUFFICIENT)
# A challenger in the estimate of judgments needed has at least this winner probability.
CANDIDATE_PROBABILITY = 0.05
MAX_CANDIDATES = 3
MIN_GAP = 0.3


@dataclass(frozen=True)
class HeadToHead:
    """The decisive votes between two values of a context, from value_id's side."""

    value_id: str
    other_id: str
    wins: int
    losses: int
    participants: int


@dataclass(frozen=True)
class Needed:
    """Judgments still needed, and on which pairs (leader, challenger)."""

    judgments: int
    pairs: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        if self.judgments == 0:
            return "needs no more judgments"
        where = f"on these {len(self.pairs)} pairs" if len(self.pairs) > 1 else "on this pair"
        if not self.pairs:
            where = "on any of its pairs"
        noun = "judgment" if self.judgments == 1 else "judgments"
        return f"needs about {self.judgments} more {noun} {where}"


@dataclass(frozen=True)
class ContextStatus:
    context_id: str
    status: str
    winner: str | None  # the leader, whatever the status: only `confident` is a winner to train
    winner_probability: float | None
    decisive: int  # decisive votes involving the leader
    participants: int  # distinct people behind them
    challenger: str | None
    challenger_probability: float | None
    head_to_head: HeadToHead | None  # leader against challenger
    losses: tuple[HeadToHead, ...]  # the leader's lost head-to-heads with enough votes
    reason: str
    needed: Needed


def context_status(fit: ContextFit, params: PairwiseParams | None = None) -> ContextStatus:
    """Return a context's status, its reason and the judgments it still needs."""
    params = params or PairwiseParams()
    if fit.leader is None:
        needed = _needed_without_leader(fit, params)
        return ContextStatus(
            context_id=fit.context_id,
            status=INSUFFICIENT,
            winner=None,
            winner_probability=None,
            decisive=0,
            participants=0,
            challenger=None,
            challenger_probability=None,
            head_to_head=None,
            losses=(),
            reason=f"no decisive vote yet; {needed}",
            needed=needed,
        )
    leader = fit.value(fit.leader)
    records = {
        other: HeadToHead(leader.value_id, other, wins, losses, people)
        for other, wins, losses, people in fit.head_to_heads(leader.value_id)
    }
    losses = tuple(
        sorted(
            (
                h
                for h in records.values()
                if h.wins + h.losses >= params.min_head_to_head_votes and h.losses > h.wins
            ),
            key=lambda h: (h.wins - h.losses, h.other_id),
        )
    )
    others = sorted(
        (v for v in fit.values if v.value_id != leader.value_id),
        key=lambda v: (-v.winner_probability, -v.strength, v.value_id),
    )
    challenger = losses[0].other_id if losses else (others[0].value_id if others else None)
    challenger_p = fit.value(challenger).winner_probability if challenger else None
    p = leader.winner_probability
    missing = []
    if p < params.confident_probability:
        missing.append(f"winner probability {p:.3f} is below {params.confident_probability:g}")
    elif fit.lead_probability is not None and fit.lead_probability < params.confident_probability:
        missing.append(
            f"it leads by {params.min_lead:g} in {fit.lead_probability:.3f} of resamples "
            f"(needs {params.confident_probability:g})"
        )
    if leader.decisive < params.min_winner_votes:
        missing.append(
            f"{leader.decisive} decisive votes involve it (needs {params.min_winner_votes})"
        )
    if leader.participants < params.min_winner_participants:
        missing.append(
            f"they come from {leader.participants} people (needs {params.min_winner_participants})"
        )
    if losses:
        status = CONTESTED
        reason = "the leader loses head-to-head: " + ", ".join(
            f"{h.wins}–{h.losses} against {h.other_id}" for h in losses
        )
    elif challenger_p is not None and challenger_p >= params.challenger_probability:
        status = CONTESTED
        h = records.get(challenger)
        votes = f" (head-to-head {h.wins}–{h.losses})" if h else " (never compared directly)"
        reason = (
            f"{challenger} has winner probability {challenger_p:.3f} beside the leader's "
            f"{p:.3f}{votes}"
        )
    elif not missing:
        status = CONFIDENT
        reason = (
            f"winner probability {p:.3f}; {leader.decisive} decisive votes from "
            f"{leader.participants} people; no head-to-head lost"
        )
    else:
        status = INSUFFICIENT
        reason = "; ".join(missing)
    needed = Needed(0, ()) if status == CONFIDENT else _needed(fit, params, losses)
    if status != CONFIDENT:
        reason = f"{reason}; {needed}"
    return ContextStatus(
        context_id=fit.context_id,
        status=status,
        winner=leader.value_id,
        winner_probability=p,
        decisive=leader.decisive,
        participants=leader.participants,
        challenger=challenger,
        challenger_probability=challenger_p,
        head_to_head=records.get(challenger) if challenger else None,
        losses=losses,
        reason=reason,
        needed=needed,
    )


def _decisive_rate(fit: ContextFit) -> float:
    # Few judgments say little about the share of "not sure"; never assume below a quarter.
    return max(fit.decisive / fit.judgments, 0.25) if fit.judgments else 1.0


def _needed_without_leader(fit: ContextFit, params: PairwiseParams) -> Needed:
    votes = max(params.min_winner_votes, params.min_winner_participants)
    return Needed(math.ceil(votes / _decisive_rate(fit)), ())


def _needed(fit: ContextFit, params: PairwiseParams, losses: tuple[HeadToHead, ...]) -> Needed:
    leader = fit.value(fit.leader)
    index = {v.value_id: n for n, v in enumerate(fit.values)}
    beaten_by = {h.other_id for h in losses}
    candidates = sorted(
        (
            v
            for v in fit.values
            if v.value_id != leader.value_id
            and (v.winner_probability >= CANDIDATE_PROBABILITY or v.value_id in beaten_by)
        ),
        key=lambda v: (v.value_id not in beaten_by, -v.winner_probability, v.value_id),
    )[:MAX_CANDIDATES]
    if not candidates:
        runner_up = sorted(
            (v for v in fit.values if v.value_id != leader.value_id),
            key=lambda v: (-v.strength, v.value_id),
        )
        candidates = runner_up[:1]
    counts = max(
        params.min_winner_votes - leader.decisive,
        params.min_winner_participants - leader.participants,
        0,
    )
    shortfall = 0.0
    evidence = 0.0
    rival = max((v.winner_probability for v in candidates), default=0.0)
    lead = fit.lead_probability if fit.lead_probability is not None else 1.0
    if (
        min(leader.winner_probability, lead) < params.confident_probability
        or rival >= params.challenger_probability
    ):
        # Each challenger gets an equal part of the doubt allowed to the leader (Bonferroni).
        allowed = min(1 - params.confident_probability, params.challenger_probability)
        doubt = allowed / len(candidates)
        z = NormalDist().inv_cdf(1 - doubt)
        shared = {other: wins + lost for other, wins, lost, _ in fit.head_to_heads(leader.value_id)}
        for other in candidates:
            spread = fit.gap_spread[index[other.value_id]]
            # The lead must clear min_lead, not 0: only what is beyond it counts.
            gap = max(leader.strength - other.strength, MIN_GAP) - params.min_lead
            votes = max(leader.decisive + other.decisive - shared.get(other.value_id, 0), 1)
            # The largest, not the sum: the leader's new votes count against every
            # challenger at once (summing overestimated by about 1.75 times; see below).
            evidence = max(evidence, votes * (z * spread / gap) ** 2 - votes)
    shortfall += evidence
    for lost in losses:
        # Votes on the pair until the leader's side outnumbers, at the rate the model expects.
        gap = max(leader.strength - fit.value(lost.other_id).strength, MIN_GAP)
        margin = 2 / (1 + math.exp(-gap)) - 1
        shortfall += (lost.losses - lost.wins + 1) / margin
    # Not confident, so at least one more judgment, whatever the forecast says.
    decisive = max(counts, math.ceil(shortfall), 1)
    pairs = tuple((leader.value_id, v.value_id) for v in candidates)
    return Needed(math.ceil(decisive / _decisive_rate(fit)), pairs)


@dataclass(frozen=True)
class EdgeDecision:
    """Whether a compared pair may give a DPO pair: oriented from the less wise value."""

    context_id: str
    from_id: str
    to_id: str  # the side with more decisive votes (value_b on a tie)
    wiser_votes: int
    other_votes: int
    participants: int
    stability: float | None  # share of resamples where to_id has more votes; None on a tie
    kept: bool
    reason: str  # why it is excluded; "" when kept


def dpo_edges(fit: ContextFit, params: PairwiseParams | None = None) -> tuple[EdgeDecision, ...]:
    """Every compared pair of a context with the DPO rule's verdict on it.

    Kept: its direction holds in at least ``dpo_stability`` of the resamples (the wiser
    side has strictly more weighted votes), with ``dpo_min_votes`` decisive votes from
    ``dpo_min_participants`` people.
    """
    params = params or PairwiseParams()
    decisions = []
    for pair in fit.pairs:
        if pair.wins_a > pair.wins_b:
            low, high, wiser, other = pair.value_b, pair.value_a, pair.wins_a, pair.wins_b
            stability = pair.a_ahead
        else:
            low, high, wiser, other = pair.value_a, pair.value_b, pair.wins_b, pair.wins_a
            stability = pair.b_ahead if pair.wins_b > pair.wins_a else None
        reasons = []
        if stability is None:
            reasons.append(f"votes tied {wiser}–{other}")
        if wiser + other < params.dpo_min_votes:
            reasons.append(f"{wiser + other} decisive votes (needs {params.dpo_min_votes})")
        if pair.participants < params.dpo_min_participants:
            reasons.append(f"{pair.participants} people (needs {params.dpo_min_participants})")
        if stability is not None and stability < params.dpo_stability:
            reasons.append(
                f"its direction holds in {stability:.0%} of resamples "
                f"(needs {params.dpo_stability:.0%})"
            )
        decisions.append(
            EdgeDecision(
                context_id=fit.context_id,
                from_id=low,
                to_id=high,
                wiser_votes=wiser,
                other_votes=other,
                participants=pair.participants,
                stability=stability,
                kept=not reasons,
                reason="; ".join(reasons),
            )
        )
    return tuple(decisions)
