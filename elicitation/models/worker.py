"""Liveness of the background workers."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran a task, so the app can say whether one is alive."""

    name = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField()
