"""``sft-jsonl`` and ``dpo-jsonl``: the alignment target as training data.

SFT, one line per question and context with a confident winner (the Wilson lower bound of
its head-to-head win share at least ``MIN_CONFIDENCE``)::

    {"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}],
     "metadata": {...}}

the chat format that OpenAI fine-tuning and TRL's SFTTrainer take. DPO, one line per kept
edge of a context and question, in TRL's conversational preference format::

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

MIN_CONFIDENCE = 0.5
SYSTEM = "You are a wise and helpful assistant. Situation: {context}"


def _questions(data: ExportData, context_id: str) -> list:
    wanted = set(data.context_questions[context_id])
    return [q for q in data.questions if str(q.pk) in wanted]


def _confident(winner: Winner | None) -> bool:
    return winner is not None and (winner.confidence or 0.0) >= MIN_CONFIDENCE


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
        for edge in scored.kept_edges:
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
                        "confidence": winner.confidence,
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
        for edge in scored.kept_edges:
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
                            "response_model": chosen.model,
                            "response_prompt_version": chosen.prompt_version,
                        },
                    }
                )
    return jsonl_bytes(rows)
