"""The tables of the ``csv`` export that come from the snapshot: edges and ranks, and in
the default mode the winner of each context. Floats are written with repr (every digit);
lists are ";"-joined."""

from __future__ import annotations

from collections.abc import Iterator

from moralgraph.models import GraphSnapshot
from moralgraph.services.exports.data import ExportData, csv_bytes

_COMPAT_COUNTS = ("markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions")


def _float(value) -> str:
    return "" if value is None else repr(float(value))


def files(data: ExportData) -> list[tuple[str, bytes]]:
    if data.mode == GraphSnapshot.Mode.COMPAT:
        return [("edges.csv", compat_edges(data)), ("ranks.csv", compat_ranks(data))]
    return [
        ("edges.csv", default_edges(data)),
        ("ranks.csv", default_ranks(data)),
        ("winners.csv", winners(data)),
    ]


def default_edges(data: ExportData) -> bytes:
    def lines() -> Iterator[list]:
        for scored in data.results["contexts"]:
            for e in scored["edges"]:
                yield [
                    scored["context_id"],
                    e["from_id"],
                    e["to_id"],
                    e["counts"]["upgrade"],
                    e["counts"]["no_upgrade"],
                    e["counts"]["not_sure"],
                    e["decisive"],
                    _float(e["wiser_share"]),
                    _float(e["interval"][0]),
                    _float(e["interval"][1]),
                    e["kept"],
                    _float(e["bridging"]),
                    e["bridged"],
                    ";".join(e["carried_by"]),
                ]

    return csv_bytes(
        [
            "context_id",
            "from_value_id",
            "to_value_id",
            "upgrade",
            "no_upgrade",
            "not_sure",
            "decisive",
            "wiser_share",
            "interval_low",
            "interval_high",
            "kept",
            "bridging",
            "bridged",
            "carried_by",
        ],
        lines(),
    )


def default_ranks(data: ExportData) -> bytes:
    return csv_bytes(
        ["context_id", "value_id", "pagerank"],
        (
            [scored["context_id"], r["value_id"], _float(r["pagerank"])]
            for scored in data.results["contexts"]
            for r in scored["ranks"]
        ),
    )


def winners(data: ExportData) -> bytes:
    def lines() -> Iterator[list]:
        for scored in data.results["contexts"]:
            w = scored.get("winner")
            if w is None:
                continue
            yield [
                scored["context_id"],
                w["value_id"],
                _float(w["pagerank"]),
                _float(w["margin"]),
                w["wins"],
                w["decisive"],
                _float(w["win_share"]),
                _float(w["confidence"]),
                _float(w["interval"][1]),
                _float(w["bridging"]),
                w["bridged"],
                ";".join(w["carried_by"]),
            ]

    return csv_bytes(
        [
            "context_id",
            "value_id",
            "pagerank",
            "margin",
            "wins",
            "decisive",
            "win_share",
            "confidence",
            "interval_high",
            "bridging",
            "bridged",
            "carried_by",
        ],
        lines(),
    )


def compat_edges(data: ExportData) -> bytes:
    return csv_bytes(
        [
            "source_value_id",
            "wiser_value_id",
            "context_ids",
            "markedWiser",
            "markedNotWiser",
            "markedLessWise",
            "markedUnsure",
            "impressions",
            "wiserLikelihood",
            "entropy",
            "kept",
        ],
        (
            [
                e["sourceValueId"],
                e["wiserValueId"],
                ";".join(e["contexts"]),
                *(e["counts"][k] for k in _COMPAT_COUNTS),
                _float(e["summary"]["wiserLikelihood"]),
                _float(e["summary"]["entropy"]),
                e["kept"],
            ]
            for e in data.results["all_pairs"]
        ),
    )


def compat_ranks(data: ExportData) -> bytes:
    return csv_bytes(
        ["value_id", "pageRank"],
        ([v["id"], _float(v["pageRank"])] for v in data.results["values"]),
    )
