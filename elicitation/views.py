from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from elicitation.models import Study, WorkerHeartbeat


def home(request):
    studies = Study.objects.filter(status=Study.Status.OPEN).order_by("title")
    return render(request, "elicitation/home.html", {"studies": studies})


def healthz(request):
    """Database reachable, and when a worker last ran a task."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    beat = WorkerHeartbeat.objects.filter(name="worker").first()
    return JsonResponse(
        {"database": "ok", "worker_seen_at": beat.seen_at.isoformat() if beat else None}
    )
