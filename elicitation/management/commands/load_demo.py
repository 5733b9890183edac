import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from elicitation.demo import load_demo_study
from elicitation.queue import enqueue


class Command(BaseCommand):
    help = "Create the demo study (idempotent) and a researcher login for this machine."

    def add_arguments(self, parser):
        parser.add_argument("--no-user", action="store_true", help="Skip the researcher login.")

    def handle(self, *args, no_user=False, **options):
        study = load_demo_study()
        self.stdout.write(f"Demo study '{study.slug}' with {study.questions.count()} questions.")
        # The worker extracts the questions' contexts as soon as it starts.
        enqueue("moralgraph.tasks.reconcile_study", study.pk)
        if no_user:
            return
        # A fresh password each run, printed once: nothing secret lives in the repository.
        password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(
            username="researcher", defaults={"is_staff": True, "is_superuser": True}
        )
        user.set_password(password)
        user.save()
        self.stdout.write(f"Researcher login: researcher / {password}")
