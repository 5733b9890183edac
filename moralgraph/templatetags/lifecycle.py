"""The study head's lifecycle controls: who may move the study, and its test link."""

from django import template
from django.urls import reverse

from moralgraph.research.access import has_role

register = template.Library()


@register.filter
def owns(user, study) -> bool:
    """Whether ``user`` is an owner of ``study`` (moves it, sees its test link)."""
    return has_role(user, study, "owner")


@register.simple_tag(takes_context=True)
def test_link(context, study) -> str:
    """The study's test link, absolute: pilot participants come only through it."""
    path = reverse("elicitation:test_link", args=[study.slug, study.pilot_token])
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path
