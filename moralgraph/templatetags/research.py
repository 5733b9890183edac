"""Small filters for the researchers' pages."""

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(moment: datetime | None) -> str:
    """ "just now", "4 minutes ago", "2 days, 3 hours ago"; "never" for no moment."""
    if moment is None:
        return "never"
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def percent(share: float | None, digits: int = 0) -> str:
    """A share of 1 as a percentage ("83%"); "—" when there is none."""
    if share is None:
        return "—"
    return f"{100 * share:.{int(digits)}f}%"


@register.filter
def interval(bounds) -> str:
    """A [low, high] interval of shares as "41–93%"."""
    if not bounds or len(bounds) != 2:
        return "—"
    low, high = bounds
    return f"{100 * low:.0f}–{100 * high:.0f}%"


@register.simple_tag(takes_context=True)
def query_with(context, name: str, value) -> str:
    """The request's query string with ``name`` set to ``value`` (page links keep the
    snapshot and the other list's page)."""
    query = context["request"].GET.copy()
    query[name] = value
    return query.urlencode()


@register.filter
def page_numbers(page) -> list:
    """The page numbers to link around ``page``, with "…" where a run is left out."""
    return list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))


@register.filter
def moderation_reason(code: str) -> str:
    """A moderation reason's words ("Joke or nonsense"), the code itself if unknown."""
    from elicitation.models import Moderation

    return dict(Moderation.choices).get(code, code)
