"""python manage.py dedup_eval --cards FILE.jsonl [--k K] [--judge oracle|configured]"""

import json
import uuid
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Sum

from elicitation.models import LLMCall
from moralgraph.services import dedup_eval


def read_cards(path: str) -> list[dedup_eval.LabelledCard]:
    cards = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            policies = row.get("policies", [])
            if not isinstance(policies, list) or not all(isinstance(p, str) for p in policies):
                raise ValueError("policies must be a list of strings")
            cards.append(
                dedup_eval.LabelledCard(
                    id=str(row.get("id", number)),
                    title=str(row["title"]),
                    description=str(row.get("description", "")),
                    policies=policies,
                    label=str(row["label"]),
                    own_wording=bool(row.get("own_wording", False)),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise CommandError(f"{path}, line {number}: {error}") from None
    if not cards:
        raise CommandError(f"{path} holds no cards")
    return cards


class Command(BaseCommand):
    help = (
        "Check dedup on cards labelled by hand: retrieval and the judge over the cards in "
        "order, in a scratch study that is rolled back. Prints one JSON line of figures."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cards", required=True, metavar="FILE.jsonl")
        parser.add_argument("--k", type=int, default=None, help="default: DEDUP_TOP_K")
        parser.add_argument(
            "--judge",
            choices=["oracle", "configured"],
            default="oracle",
            help="oracle: knows the labels, measures retrieval; configured: the dedup "
            "model (LLM_DEDUP_MODEL), whose calls cost money and are counted here",
        )

    def handle(self, *, cards: str, k: int | None, judge: str, **options):
        if k is not None and k < 1:
            raise CommandError("--k must be at least 1")
        labelled = read_cards(cards)
        slug = f"dedup-eval-{uuid.uuid4().hex[:12]}"
        with transaction.atomic():
            figures = dedup_eval.run(labelled, slug=slug, k=k, oracle=judge == "oracle")
            cost = LLMCall.objects.filter(study__slug=slug).aggregate(total=Sum("cost"))["total"]
            # Nothing of the scratch study stays, not even the log of its calls.
            transaction.set_rollback(True)
        figures.update(judge=judge, llm_cost=float(cost or Decimal("0")))
        self.stdout.write(json.dumps(figures))
