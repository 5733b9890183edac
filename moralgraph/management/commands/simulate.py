"""python manage.py simulate --study SLUG --participants N [--planned N] [--model M]
[--concurrency C] [--budget USD] [--price-model M] [--no-reconcile] [--json]

Persona participants walk the study's real journey as test participants; prints the
time per step, LLM calls and tokens per stage per participant, and the cost estimate
for the planned number of participants (moralgraph.services.simulation). The figures
are stored as a SimulationRun, shown on /research/SLUG/simulate/.
"""

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from elicitation.models import Study
from moralgraph.models import SimulationRun
from moralgraph.services import simulation


class Command(BaseCommand):
    help = "Simulate persona participants walking the study, with a cost estimate."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="The study's slug.")
        parser.add_argument("--participants", type=int, required=True)
        parser.add_argument(
            "--planned",
            type=int,
            help="Participants to estimate the cost for (default: the study's maximum "
            f"completed, else {simulation.DEFAULT_PLANNED}).",
        )
        parser.add_argument("--model", default="", help="The personas' model (LLM stage simulate).")
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument(
            "--budget", help="This run's own budget in USD: no new message once it is spent."
        )
        parser.add_argument(
            "--price-model",
            default="",
            help="Price every stage's tokens as this litellm model (e.g. an offline run "
            "priced as the model you will use).",
        )
        parser.add_argument(
            "--no-reconcile",
            action="store_true",
            help="Skip the reconciliation pass after the walk (its stages go unmeasured).",
        )
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"No study with the slug {options['study']!r}.")
        if options["participants"] < 1:
            raise CommandError("--participants must be at least 1.")
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        budget = None
        if options["budget"] is not None:
            try:
                budget = Decimal(options["budget"])
            except InvalidOperation:
                raise CommandError("--budget must be a number of dollars, e.g. 2.50.") from None
        run = simulation.simulation_create(
            study=study,
            participants=options["participants"],
            planned=options["planned"],
            model=options["model"],
        )

        def progress(walk):
            mark = "done" if walk.reached == "done" else f"stopped: {walk.error}"
            self.stderr.write(f"  participant {walk.index + 1} ({walk.persona}): {mark}")

        run = simulation.simulation_run(
            run=run,
            concurrency=options["concurrency"],
            budget_usd=budget,
            price_model=options["price_model"],
            reconcile_after=not options["no_reconcile"],
            progress=progress,
        )
        if run.status != SimulationRun.Status.DONE:
            raise CommandError(f"The simulation failed: {run.error}")
        if options["json"]:
            self.stdout.write(simulation.figures_json(run.figures))
        else:
            self.stdout.write(simulation.format_figures(run.figures))
            self.stdout.write(f"\nStored as simulation run {run.pk}.")
