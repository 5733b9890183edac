"""The moderation page of a study: its cards (flagged by the pre-screen first) and its
values, each with a hide or unhide form and a reason, and the study's audit log. Analysts
and owners only; every form works without JavaScript.

Hiding writes through moralgraph.services.moderation: the item stays stored, leaves the
graph and every export, and the graph is rescored.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, Count, Exists, OuterRef, Q, When
from django.db.models import Value as V
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from elicitation.models import Moderation, Study, ValuesCard
from moralgraph.models import AuditEntry, CardMapping, Value
from moralgraph.research.access import study_role
from moralgraph.services import moderation

PER_PAGE = 25
LOG = 50
SHOWS = {"all": "All", "flagged": "Flagged by the pre-screen", "hidden": "Hidden"}


# --- Reads ---------------------------------------------------------------------------


def cards_for(study: Study, show: str):
    """The study's submitted cards: flagged and not yet hidden first, then newest."""
    cards = ValuesCard.objects.filter(study=study, status=ValuesCard.Status.SUBMITTED)
    if show == "flagged":
        cards = cards.exclude(screen_flag="")
    elif show == "hidden":
        cards = cards.filter(hidden_at__isnull=False)
    first = Q(hidden_at=None) & ~Q(screen_flag="")
    return (
        cards.select_related("participant", "question")
        .annotate(
            value_id=CardMapping.objects.filter(card=OuterRef("pk"), undone_at=None).values(
                "value_id"
            )[:1],
            later=Case(When(first, then=V(0)), default=V(1)),
        )
        .order_by("later", "-id")
    )


def values_for(study: Study, show: str):
    """The study's values in the graph (or hidden), with their cards counted and hidden."""
    values = Value.objects.filter(study=study, is_active=True)
    current = Q(mappings__undone_at=None)
    if show == "flagged":
        flagged = CardMapping.objects.filter(value=OuterRef("pk"), undone_at=None).exclude(
            card__screen_flag=""
        )
        values = values.filter(Exists(flagged))
    elif show == "hidden":
        values = values.filter(hidden_at__isnull=False)
    return values.annotate(
        cards=Count("mappings", filter=current),
        hidden_cards=Count("mappings", filter=current & Q(mappings__card__hidden_at__isnull=False)),
    ).order_by("-id")


def audit_log(study: Study):
    return AuditEntry.objects.filter(study=study).order_by("-created_at", "-id")[:LOG]


# --- Views ---------------------------------------------------------------------------


@require_GET
@study_role("analyst")
def moderation_page(request, study):
    show = request.GET.get("show", "all")
    show = show if show in SHOWS else "all"
    cards = Paginator(cards_for(study, show), PER_PAGE).get_page(request.GET.get("page"))
    values = Paginator(values_for(study, show), PER_PAGE).get_page(request.GET.get("vpage"))
    context = {
        "study": study,
        "section": "moderation",
        "show": show,
        "shows": SHOWS,
        "cards": cards,
        "values": values,
        "reasons": Moderation.choices,
        "log": audit_log(study),
        "flagged": ValuesCard.objects.filter(study=study, hidden_at=None)
        .exclude(screen_flag="")
        .count(),
    }
    return render(request, "research/moderation.html", context)


def _back(request, study: Study):
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return redirect(target)
    return redirect("research:moderation", slug=study.slug)


@require_POST
@study_role("analyst")
def moderate_card(request, study, card_id):
    card = get_object_or_404(ValuesCard, pk=card_id, study=study)
    return _moderate(request, study, card, moderation.hide_card, moderation.unhide_card, "card")


@require_POST
@study_role("analyst")
def moderate_value(request, study, value_id):
    value = get_object_or_404(Value, pk=value_id, study=study)
    return _moderate(request, study, value, moderation.hide_value, moderation.unhide_value, "value")


def _moderate(request, study, item, hide, unhide, noun: str):
    action = request.POST.get("action")
    note = request.POST.get("note", "").strip()[:2000]
    title = f"“{item.title}”"
    try:
        if action == "hide":
            reason = request.POST.get("reason", "")
            done = hide(**{noun: item}, reason=reason, actor=request.user, note=note)
            text = f"Hid the {noun} {title}. The graph is rescored shortly."
        elif action == "unhide":
            done = unhide(**{noun: item}, actor=request.user, note=note)
            text = f"The {noun} {title} is shown again. The graph is rescored shortly."
        else:
            raise ValueError("hide or unhide?")
    except ValueError as error:
        messages.error(request, str(error).capitalize() + ".")
        return _back(request, study)
    if done:
        messages.success(request, text)
    else:
        messages.info(request, f"Nothing to do: the {noun} already was as asked.")
    return _back(request, study)


urlpatterns = [
    path("", moderation_page, name="moderation"),
    path("cards/<int:card_id>/", moderate_card, name="moderate_card"),
    path("values/<int:value_id>/", moderate_value, name="moderate_value"),
]
