"""Django's form renderer, with the plain ``<input>`` written without a template.

Each radio button, checkbox and text box Django renders goes through three nested
templates (the option, ``input.html``, ``attrs.html``), for a line of HTML: the largest
part of the templates' work on a judgment, on "About you" and on the survey, whose 25
radio buttons took 2.2 ms of CPU that way and take 0.8 ms here. This writes those lines
itself, exactly as the templates do (tests/config/test_forms.py holds every kind of
input to Django's own output); every other widget (a textarea, a select) still renders
from its template.
"""

from __future__ import annotations

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape

_WIDGETS = "django/forms/widgets/"
# Templates that are only input.html, included.
INPUTS = frozenset(
    _WIDGETS + name + ".html"
    for name in (
        "input",
        "text",
        "hidden",
        "number",
        "email",
        "url",
        "password",
        "search",
        "tel",
        "color",
        "date",
        "datetime",
        "time",
        "checkbox",
    )
)
# Templates that are only input_option.html, included: one radio button or checkbox of a
# choice field, optionally inside its label.
OPTIONS = frozenset(
    _WIDGETS + name + ".html" for name in ("input_option", "radio_option", "checkbox_option")
)


def _input(widget: dict) -> str:
    parts = [
        '<input type="',
        conditional_escape(widget["type"]),
        '" name="',
        conditional_escape(widget["name"]),
        '"',
    ]
    if widget["value"] is not None:
        parts += [' value="', conditional_escape(widget["value"]), '"']
    for name, value in widget["attrs"].items():
        if value is False:
            continue
        parts += [" ", conditional_escape(name)]
        if value is not True:
            parts += ['="', conditional_escape(value), '"']
    parts.append(">")
    return "".join(parts)


def _option(widget: dict) -> str:
    tag = _input(widget)
    if not widget.get("wrap_label"):
        return tag
    label_for = widget["attrs"].get("id")
    opening = f'<label for="{conditional_escape(label_for)}">' if label_for else "<label>"
    # input.html ends in a line break, kept inside the label.
    return f"{opening}{tag}\n {conditional_escape(widget['label'])}</label>"


class FormRenderer(DjangoTemplates):
    """FORM_RENDERER: the templates' output for plain inputs and options, without them."""

    def render(self, template_name, context, request=None):
        if template_name in INPUTS:
            return _input(context["widget"])
        if template_name in OPTIONS:
            return _option(context["widget"])
        return super().render(template_name, context, request=request)
