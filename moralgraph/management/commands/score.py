"""python manage.py score --study SLUG [--mode compat|default] [--as-of ISO-DATE]"""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from elicitation.models import Study
from moralgraph.graph.payload import ScoredGraph
from moralgraph.models import Context, Value
from moralgraph.services import scoring

TOP = 3


def _parse_as_of(text: str) -> datetime:
    try:
        return scoring.parse_as_of(text)
    except ValueError as error:
        raise CommandError(str(error)) from None


class Command(BaseCommand):
    help = (
        "Score a study's wiser judgments into a stored snapshot and print the top values "
        "per context. --as-of keeps only judgments made before that moment (UTC if no "
        "offset is given)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG")
        parser.add_argument("--mode", choices=["default", "compat"], default="default")
        parser.add_argument("--as-of", dest="as_of", metavar="ISO-DATE")

    def handle(self, *, study: str, mode: str, as_of: str | None, **options):
        found = Study.objects.filter(slug=study).first()
        if found is None:
            raise CommandError(f"no study with slug {study!r}")
        moment = _parse_as_of(as_of) if as_of else None
        snapshot = scoring.score_study(study=found, mode=mode, as_of=moment)
        when = f" before {moment.isoformat()}" if moment else ""
        self.stdout.write(
            f"Snapshot {snapshot.pk} of {found.slug} ({mode}): {snapshot.judgment_count} "
            f"judgments{when}, input hash {snapshot.input_hash[:12]}"
        )
        if mode == "compat":
            self._print_compat(snapshot.payload)
        else:
            self._print_default(snapshot.payload)

    def _titles(self, ids) -> dict[str, str]:
        values = Value.objects.filter(pk__in=[int(i) for i in ids if str(i).isdigit()])
        return {str(v.pk): v.title for v in values}

    def _contexts(self, ids) -> dict[str, str]:
        rows = Context.objects.filter(pk__in=[int(i) for i in ids if str(i).isdigit()])
        return {str(c.pk): c.text for c in rows}

    def _print_default(self, graph: ScoredGraph) -> None:
        if not graph.contexts:
            self.stdout.write("No judgments yet: nothing to rank.")
            return
        titles = self._titles({r.value_id for c in graph.contexts for r in c.ranks})
        texts = self._contexts(c.context_id for c in graph.contexts)
        for context in graph.contexts:
            self.stdout.write(f"\n{texts.get(context.context_id, context.context_id)}")
            winner = context.winner
            if context.status:
                self.stdout.write(f"  {context.status}: {context.reason}")
            for place, rank in enumerate(context.ranks[:TOP], start=1):
                value_id = rank.value_id
                line = f"  {place}. {titles.get(value_id, value_id)} (PageRank {rank.score:.3f})"
                if winner and winner.value_id == value_id:
                    line += f", wins {winner.wins}/{winner.decisive}"
                    if winner.confidence is not None:
                        line += f", confidence {winner.confidence:.2f}"
                    if winner.probability is not None:
                        line += f", winner probability {winner.probability:.2f}"
                    if winner.carried_by:
                        line += f", carried by {', '.join(winner.carried_by)} only"
                    elif winner.bridged:
                        line += ", holds across groups"
                    elif winner.bridging_status:
                        line += f", bridging {winner.bridging_status}"
                self.stdout.write(line)
            if not context.ranks:
                self.stdout.write("  no edge has enough judgments yet")

    def _print_compat(self, graph: ScoredGraph) -> None:
        pooled = graph.contexts[0] if graph.contexts else None
        edges = pooled.kept_edges if pooled else ()
        if not edges:
            self.stdout.write("No edge passes the reference's thresholds yet.")
            return
        ranks = {r.value_id: r.score for r in pooled.ranks}
        titles = self._titles(ranks)
        by_context: dict[str, set[str]] = {}
        for edge in edges:
            for context_id in edge.contexts:
                by_context.setdefault(context_id, set()).update((edge.from_id, edge.to_id))
        texts = self._contexts(by_context)
        # The reference pools contexts into one ranking; shown per context it touches.
        for context_id in sorted(by_context, key=lambda c: texts.get(c, c)):
            self.stdout.write(f"\n{texts.get(context_id, context_id)}")
            top = sorted(by_context[context_id], key=lambda v: (-ranks.get(v, 0.0), v))[:TOP]
            for place, value_id in enumerate(top, start=1):
                self.stdout.write(
                    f"  {place}. {titles.get(value_id, value_id)} "
                    f"(pageRank {ranks.get(value_id, 0.0):.4f})"
                )
