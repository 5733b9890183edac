"""``sft-jsonl`` and ``dpo-jsonl``: the alignment target as training data.

SFT, one line per context with a ``confident`` winner (status.py: the pairwise model's
leader, with a high winner probability, enough votes from enough people and no lost
head-to-head) and each question the context is linked to::

    {"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}],
     "metadata": {...}}

the chat format that OpenAI fine-tuning and TRL's SFTTrainer take. DPO, one line per edge
that passes the DPO rule (its direction holds in 80 % of the resamples, with 5 decisive votes
from 3 people) and question linked to its context, in TRL's conversational preference format::

    {"prompt": [system, user], "chosen": [assistant], "rejected": [assistant], "metadata": {...}}

where the chosen answer was written under the wiser value's guidance and the rejected one
under the less wise value's. The system message names the context, so that one question
can carry different targets in different contexts; the value itself is never in the prompt,
only in the answer it shaped and in ``metadata``.
"""

from __future__ import annotations

from collections.abc import Mapping

from moralgraph.graph.payload import Winner
from moralgraph.models import TrainingResponse
from moralgraph.services.exports.data import ExportData, jsonl_bytes
from moralgraph.services.training import Need

SYSTEM = "You are a wise and helpful assistant. Situation: {context}"


def _questions(data: ExportData, context_id: str) -> list:
    # Only the questions the context is linked to: a training row never pairs a context
    # with a question its participants were not asked.
    wanted = set(data.question_links.get(context_id, ()))
    return [q for q in data.questions if str(q.pk) in wanted]


def _confident(winner: Winner | None) -> bool:
    return winner is not None and winner.confident


def dpo_edges(scored) -> list:
    """The edges of a scored context that may give DPO pairs."""
    return [e for e in scored.edges if e.dpo]


def sft_needs(data: ExportData) -> list[Need]:
    needs = []
    for scored in data.graph.contexts:
        if _confident(scored.winner):
            for q in _questions(data, scored.context_id):
                needs.append(Need(int(scored.winner.value_id), q.pk, int(scored.context_id)))
    return needs


def dpo_needs(data: ExportData) -> list[Need]:
    needs = []
    for scored in data.graph.contexts:
        context_id = int(scored.context_id)
        for edge in dpo_edges(scored):
            for q in _questions(data, scored.context_id):
                needs.append(Need(int(edge.to_id), q.pk, context_id))
                needs.append(Need(int(edge.from_id), q.pk, context_id))
    return needs


def _prompt(data: ExportData, context_id: str, question) -> list[dict]:
    return [
        {"role": "system", "content": SYSTEM.format(context=data.contexts[context_id].text)},
        {"role": "user", "content": question.text},
    ]


def _base_metadata(data: ExportData, context_id: str, question) -> dict:
    return {
        "study": data.study.slug,
        "snapshot": data.snapshot.input_hash,
        "mode": data.mode,
        "question_id": str(question.pk),
        "question_key": question.key,
        "context_id": context_id,
        "context": data.contexts[context_id].text,
    }


def _value(data: ExportData, value_id: str) -> dict:
    value = data.values[value_id]
    return {
        "id": value_id,
        "external_id": value.external_id or None,
        "title": value.title,
        "policies": list(value.policies),
    }


def build_sft(data: ExportData, responses: Mapping[Need, TrainingResponse]) -> bytes:
    rows = []
    for scored in data.graph.contexts:
        winner = scored.winner
        if not _confident(winner):
            continue
        context_id = scored.context_id
        for question in _questions(data, context_id):
            response = responses[Need(int(winner.value_id), question.pk, int(context_id))]
            rows.append(
                {
                    "messages": [
                        *_prompt(data, context_id, question),
                        {"role": "assistant", "content": response.response},
                    ],
                    "metadata": {
                        **_base_metadata(data, context_id, question),
                        "value": _value(data, winner.value_id),
                        "status": winner.status,
                        "winner_probability": winner.probability,
                        "strength": winner.strength,
                        "bridging": winner.bridging_status,
                        "win_share": winner.win_share,
                        "pagerank": winner.score,
                        "bridged": winner.bridged,
                        "response_model": response.model,
                        "response_prompt_version": response.prompt_version,
                    },
                }
            )
    return jsonl_bytes(rows)


def build_dpo(data: ExportData, responses: Mapping[Need, TrainingResponse]) -> bytes:
    rows = []
    for scored in data.graph.contexts:
        context_id = scored.context_id
        for edge in dpo_edges(scored):
            for question in _questions(data, context_id):
                chosen = responses[Need(int(edge.to_id), question.pk, int(context_id))]
                rejected = responses[Need(int(edge.from_id), question.pk, int(context_id))]
                rows.append(
                    {
                        "prompt": _prompt(data, context_id, question),
                        "chosen": [{"role": "assistant", "content": chosen.response}],
                        "rejected": [{"role": "assistant", "content": rejected.response}],
                        "metadata": {
                            **_base_metadata(data, context_id, question),
                            "chosen_value": _value(data, edge.to_id),
                            "rejected_value": _value(data, edge.from_id),
                            "wiser_share": edge.share,
                            "interval": list(edge.interval) if edge.interval else None,
                            "decisive": edge.decisive,
                            "bridged": edge.bridged,
                            "stability": edge.dpo_stability,
                            "response_model": chosen.model,
                            "response_prompt_version": chosen.prompt_version,
                        },
                    }
                )
    return jsonl_bytes(rows)


def exclusions(data: ExportData) -> list[str]:
    """Every context and edge left out of the training files, with its reason (datasheet)."""
    lines = []
    for scored in data.graph.contexts:
        context = (
            data.contexts[scored.context_id].text if scored.context_id in data.contexts else ""
        )
        where = f"context {scored.context_id} ({context})"
        if not _confident(scored.winner):
            reason = scored.reason or "no winner from the pairwise model"
            lines.append(f"- {where}: {scored.status or 'no status'}; {reason}")
        elif not _questions(data, scored.context_id):
            lines.append(f"- {where}: linked to no question")
        for edge in scored.edges:
            if not edge.dpo:
                reason = edge.dpo_reason or "no DPO figures"
                lines.append(f"- edge {edge.from_id} -> {edge.to_id} in {where}: {reason}")
    return lines


def why_empty(data: ExportData) -> str:
    """Why sft.jsonl (and the constitution) would have no row; "" when some would."""
    if any(_confident(s.winner) and _questions(data, s.context_id) for s in data.graph.contexts):
        return ""
    if not data.graph.contexts:
        return "no context has been judged yet"
    counts: dict[str, int] = {}
    for scored in data.graph.contexts:
        counts[scored.status or "no status"] = counts.get(scored.status or "no status", 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"no context has a confident winner linked to a question ({summary})"


def why_no_pairs(data: ExportData) -> str:
    """Why dpo.jsonl would have no row; "" when some would."""
    if any(dpo_edges(s) and _questions(data, s.context_id) for s in data.graph.contexts):
        return ""
    judged = sum(len(s.edges) for s in data.graph.contexts)
    if not judged:
        return "no pair of values has been judged yet"
    return (
        f"none of the {judged} judged pairs passes the DPO rule (enough decisive votes "
        "and people, a direction that holds under resampling)"
    )
