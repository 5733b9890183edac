"""A study's setup: a new study (/research/new/), its settings page (owners only), the
"suggest questions" button on both, and its members page (owners only).

Plain forms that work without JavaScript (questions are added, removed and reordered
with the formset's own fields); static/js/study-setup.js adds buttons for the same.
"""

from __future__ import annotations

import logging
import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from elicitation import llm
from elicitation.models import Study, StudyMember
from moralgraph.research import setup
from moralgraph.research.access import Role, study_role
from moralgraph.services import studies

log = logging.getLogger(__name__)
# Each click is an LLM call: a soft cap per researcher (per process's cache).
SUGGESTIONS_PER_HOUR = 30


def can_create(user) -> bool:
    """Creating a study is an admin permission (superusers have it; grant it to a
    researchers' group); everything after is the study's own roles."""
    return user.has_perm("elicitation.add_study")


def _page(request, *, form, formset, study: Study | None, status: int = 200):
    sections = [
        (title, [form[name] for name in names if name in form.fields])
        for title, names in setup.SECTIONS
    ]
    context = {
        "study": study,
        "section": "settings",
        "form": form,
        "formset": formset,
        "sections": sections,
        "creating": study is None,
    }
    return render(request, "research/settings.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def new_study(request):
    if not can_create(request.user):
        raise PermissionDenied("Creating a study needs the admin's “add study” permission.")
    if request.method == "POST":
        form = setup.StudyForm(request.POST)
        formset = setup.question_formset(request.POST)
        if form.is_valid() and formset.is_valid():
            study = studies.create_study(
                actor=request.user, fields=form.setup_fields(), questions=formset.questions()
            )
            messages.success(
                request, "Study created, in draft: nobody can take part until it is opened."
            )
            return redirect("research:settings", slug=study.slug)
        return _page(request, form=form, formset=formset, study=None, status=400)
    return _page(request, form=setup.StudyForm(), formset=setup.question_formset(), study=None)


@study_role(Role.OWNER)
@require_http_methods(["GET", "POST"])
def settings_page(request, study):
    if request.method == "POST":
        # The form edits its own copy: the service compares against the stored study.
        form = setup.StudyForm(request.POST, instance=Study.objects.get(pk=study.pk))
        formset = setup.question_formset(request.POST, study=study)
        if form.is_valid() and formset.is_valid():
            changed = studies.update_settings(
                study=study,
                actor=request.user,
                fields=form.setup_fields(),
                questions=formset.questions(),
            )
            if changed:
                messages.success(request, f"Saved: {', '.join(changed)}.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("research:settings", slug=study.slug)
        return _page(request, form=form, formset=formset, study=study, status=400)
    form = setup.StudyForm(instance=study)
    return _page(request, form=form, formset=setup.question_formset(study=study), study=study)


def _over_limit(user) -> bool:
    key = f"setup-suggest:{user.pk}:{int(time.time() // 3600)}"
    cache.add(key, 0, 3600)
    return cache.incr(key) > SUGGESTIONS_PER_HOUR


def _suggestions(request, study: Study | None):
    title = request.POST.get("title", "").strip()[:200]
    if _over_limit(request.user):
        return render(
            request,
            "research/_suggestions.html",
            {"error": "That is many suggestions for one hour: write the questions, or try later."},
            status=429,
        )
    if not title:
        return render(
            request,
            "research/_suggestions.html",
            {"error": "Give the study a title first: suggestions are about it."},
        )
    existing = [
        {"key": request.POST.get(f"questions-{i}-key", "")}
        for i in range(min(int(request.POST.get("questions-TOTAL_FORMS") or 0), 100))
        if request.POST.get(f"questions-{i}-key")
    ]
    try:
        found = studies.suggest_questions(
            title=title,
            description=request.POST.get("description", "")[:4000],
            existing=existing,
            study=study,
        )
    except llm.LLMError as error:
        log.warning("question suggestions failed: %s", error)
        return render(
            request,
            "research/_suggestions.html",
            {"error": "The model could not suggest questions just now; try again."},
        )
    return render(request, "research/_suggestions.html", {"suggestions": found})


@login_required
@require_POST
def suggest_new(request):
    if not can_create(request.user):
        raise PermissionDenied("Creating a study needs the admin's “add study” permission.")
    return _suggestions(request, None)


@study_role(Role.OWNER)
@require_POST
def suggest(request, study):
    return _suggestions(request, study)


# --- Members ------------------------------------------------------------------------


@study_role(Role.OWNER)
@require_http_methods(["GET", "POST"])
def members(request, study):
    add = setup.AddMemberForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add":
                add = setup.AddMemberForm(request.POST)
                if add.is_valid():
                    studies.add_member(
                        study=study,
                        actor=request.user,
                        user=add.user,
                        role=add.cleaned_data["role"],
                    )
                    messages.success(request, f"{add.user.get_username()} added.")
                    return redirect("research:members", slug=study.slug)
                status = 400
            elif action in ("role", "remove"):
                member = get_object_or_404(StudyMember, pk=request.POST.get("member"), study=study)
                if action == "remove":
                    studies.remove_member(study=study, actor=request.user, member=member)
                    messages.success(request, f"{member.user.get_username()} removed.")
                else:
                    form = setup.RoleForm(request.POST)
                    if not form.is_valid():
                        raise studies.MemberError("Choose viewer, analyst or owner.")
                    studies.change_role(
                        study=study,
                        actor=request.user,
                        member=member,
                        role=form.cleaned_data["role"],
                    )
                    messages.success(
                        request, f"{member.user.get_username()} is now {form.cleaned_data['role']}."
                    )
                return redirect("research:members", slug=study.slug)
            else:
                messages.error(request, "Unknown action.")
                status = 400
        except studies.MemberError as error:
            messages.error(request, str(error))
            status = 400
    context = {
        "study": study,
        "section": "members",
        "members": StudyMember.objects.filter(study=study)
        .select_related("user")
        .order_by("user__username"),
        "roles": StudyMember.Role.choices,
        "add": add,
    }
    return render(request, "research/members.html", context, status=status)
