"""``constitution-md``: the alignment target as a document people read.

Per question and context: the value participants judged wisest there, its policies, its
support (head-to-head record, interval, PageRank and lead), whether it held across
political groups, the other values ranked there, and the stories behind the strongest
edges into it. From a default-mode snapshot.
"""

from __future__ import annotations

from moralgraph.services.exports.data import ExportData

STORIES_PER_CONTEXT = 3
ALSO_RANKED = 3


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.0f}%"


def _groups(groups: dict) -> str:
    return ", ".join(
        f"{group} {_pct(g['wiser_share'])} of {g['decisive']}" for group, g in groups.items()
    )


def _bridging_line(w: dict) -> str:
    if w.get("bridging_status"):
        # The pairwise model's bridging over the study's groups.
        return f"Bridging: {w['bridging_status']}; {w['bridging_reason']}."
    if w["bridged"]:
        return (
            f"Held in every political group with enough votes (by group: {_groups(w['groups'])})."
        )
    if w["carried_by"]:
        carried = ", ".join(w["carried_by"])
        return f"Not bridged: carried by {carried} only ({_groups(w['groups'])}). Treat with care."
    if w["groups"]:
        return f"Too few votes per political group to tell (by group: {_groups(w['groups'])})."
    return "No political groups recorded for these judgments."


def _context_section(data: ExportData, scored: dict, lines: list[str]) -> None:
    context_id = scored["context_id"]
    lines.append(f"### {data.contexts[context_id].text}")
    lines.append("")
    w = scored.get("winner")
    if w is None:
        lines.append("No value stands out here yet: no comparison was kept.")
        lines.append("")
        return
    if "status" in scored and scored["status"] != "confident":
        # Only a confident winner is a target; the others say what they still need.
        lines.append(f"No confident winner yet ({scored['status']}): {scored.get('reason', '')}.")
        lines.append("")
        return
    value = data.values[w["value_id"]]
    lines.append(f"**{value.title}**: {value.description}")
    lines.append("")
    lines.append("Attending to:")
    lines.append("")
    lines.extend(f"- {policy}" for policy in value.policies)
    lines.append("")
    lo, hi = w["interval"]
    lines.append(
        f"Support: preferred in {w['wins']} of {w['decisive']} decisive judgments involving it "
        f"here ({_pct(w['win_share'])}, 95% interval {_pct(lo)} to {_pct(hi)}); "
        f"PageRank {w['pagerank']:.3f}, {w['margin']:.3f} ahead of the next value."
    )
    lines.append("")
    lines.append(_bridging_line(w))
    lines.append("")
    others = [r for r in scored["ranks"] if r["value_id"] != w["value_id"]][:ALSO_RANKED]
    if others:
        ranked = "; ".join(
            f"{data.value_title(r['value_id'])} ({r['pagerank']:.3f})" for r in others
        )
        lines.append(f"Also ranked here: {ranked}.")
        lines.append("")
    into = [e for e in scored["edges"] if e["kept"] and e["to_id"] == w["value_id"]]
    into.sort(key=lambda e: (-e["interval"][0], e["from_id"]))
    stories = []
    for e in into[:STORIES_PER_CONTEXT]:
        story = data.story(e["from_id"], e["to_id"], context_id)
        if story:
            stories.append((e, story))
    if stories:
        lines.append("Why, in the stories participants judged:")
        lines.append("")
        for e, story in stories:
            lines.append(
                f"- From *{data.value_title(e['from_id'])}* ({e['counts']['upgrade']} of "
                f"{e['decisive']} saw a gain in wisdom):"
            )
            lines.append(f"  > {' '.join(story.split())}")
        lines.append("")


def build(data: ExportData) -> bytes:
    study = data.study
    snapshot = data.snapshot
    lines = [f"# Constitution: {study.title}", ""]
    as_of = f", judgments before {data.as_of.date().isoformat()}" if data.as_of else ""
    lines.append(
        f"What participants of the study `{study.slug}` judged wisest, per question and "
        f"context: moral graph snapshot `{snapshot.input_hash[:12]}` ({snapshot.judgment_count} "
        f"wiser judgments{as_of}, {data.mode} scoring). Licence: {study.licence}."
    )
    lines.append("")
    scored_by_id = {c["context_id"]: c for c in data.results.get("contexts", [])}
    placed = set()
    for question in data.questions:
        mine = [
            c
            for c in data.results.get("contexts", [])
            if str(question.pk) in data.context_questions[c["context_id"]]
        ]
        lines.append(f"## {question.title}")
        lines.append("")
        lines.append(f"> {' '.join(question.text.split())}")
        lines.append("")
        if not mine:
            lines.append("No context of this question has been scored yet.")
            lines.append("")
        for scored in mine:
            placed.add(scored["context_id"])
            _context_section(data, scored, lines)
    rest = [c for cid, c in scored_by_id.items() if cid not in placed]
    if rest:
        lines.append("## Other contexts")
        lines.append("")
        for scored in rest:
            _context_section(data, scored, lines)
    return ("\n".join(lines).rstrip() + "\n").encode()
