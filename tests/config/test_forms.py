"""config/forms.py: the form renderer writes plain inputs exactly as Django's templates
do, for the journey's own forms and for any value, attribute or label."""

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe
from hypothesis import given, settings
from hypothesis import strategies as st

from config.forms import INPUTS, OPTIONS, FormRenderer
from elicitation import forms as journey_forms

TEMPLATES = DjangoTemplates()
OURS = FormRenderer()


def _both(widget: forms.Widget, name: str, value, attrs=None) -> tuple[str, str]:
    return (
        widget.render(name, value, attrs=attrs, renderer=TEMPLATES),
        widget.render(name, value, attrs=attrs, renderer=OURS),
    )


def _every_tag(form: forms.Form, renderer) -> list[str]:
    form.renderer = renderer
    tags = []
    for field in form:
        tags.append(str(field))
        tags += [str(option.tag()) for option in field.subwidgets]
        tags += [str(option.tag(wrap_label=True)) for option in field.subwidgets]
    return tags


@pytest.mark.parametrize(
    "make",
    [
        lambda: journey_forms.JudgmentForm(initial={"hypothesis": 7}),
        lambda: journey_forms.JudgmentForm(
            {"hypothesis": "7", "verdict": "upgrade", "reason": '"<b>&', "reason_private": "on"}
        ),
        lambda: journey_forms.SurveyForm({"represented": "3", "comment": "<script>"}),
        lambda: journey_forms.SurveyForm(saw_others=False),
        lambda: journey_forms.SelectionForm(
            {"values": ["2"]}, values=[type("V", (), {"pk": 2, "title": "A & <B>"})()]
        ),
        lambda: journey_forms.FollowUpForm({"fair": "yes", "fair_position": "9"}),
    ],
)
def test_the_journeys_forms_render_as_djangos_templates_render_them(make):
    assert _every_tag(make(), OURS) == _every_tag(make(), TEMPLATES)


@pytest.mark.parametrize(
    "widget",
    [
        forms.TextInput(),
        forms.HiddenInput(),
        forms.NumberInput(),
        forms.EmailInput(),
        forms.URLInput(),
        forms.PasswordInput(render_value=True),
        forms.CheckboxInput(),
        forms.DateInput(),
        forms.TimeInput(),
    ],
)
@pytest.mark.parametrize(
    "value", [None, "", "plain", 'a "quoted" <tag> & more', 0, 42, True, mark_safe("<i>safe</i>")]
)
def test_every_plain_input_renders_as_its_template(widget, value):
    attrs = {"id": "id_x", "required": True, "disabled": False, "data-n": 3, "title": "<'\">"}
    ours, theirs = _both(widget, "field", value, attrs)
    assert ours == theirs


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(max_size=12),
    value=st.one_of(st.none(), st.text(max_size=20), st.integers()),
    attrs=st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(st.booleans(), st.text(max_size=12), st.integers()),
        max_size=4,
    ),
    label=st.text(max_size=12),
    wrap=st.booleans(),
    template=st.sampled_from(sorted(INPUTS | OPTIONS)),
)
def test_any_input_or_option_renders_as_its_template(name, value, attrs, label, wrap, template):
    widget = {
        "name": name,
        "value": value,
        "attrs": attrs,
        "type": "radio",
        "label": label,
        "wrap_label": wrap,
        "template_name": template,
    }
    context = {"widget": widget}
    assert OURS.render(template, context) == TEMPLATES.render(template, context)


def test_other_widgets_still_render_from_their_templates():
    for widget in (forms.Textarea(), forms.Select(choices=[("a", "<A>")])):
        ours, theirs = _both(widget, "field", "a")
        assert ours == theirs
        assert ours.startswith(("<textarea", "<select"))
