"""Thin Celery tasks of the participant side."""

from celery import shared_task
from django.utils import timezone

from elicitation.models import WorkerHeartbeat


@shared_task
def heartbeat(name: str = "worker") -> str:
    """Record that a worker is alive; the beat schedule sends it every minute."""
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})
    return name
