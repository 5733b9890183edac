"""Who may see and do what on a study: the one role check of research pages, jobs,
exports and the API.

A researcher reaches a study only through a StudyMember row (viewer < analyst < owner);
superusers are owners everywhere. Being staff gives nothing by itself: a staff user who
is not a member sees nothing of the study, not even that it exists (pages answer 404).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from elicitation.models import Study, StudyMember

Role = StudyMember.Role
_RANK = {Role.VIEWER: 1, Role.ANALYST: 2, Role.OWNER: 3}


def role_of(user, study: Study) -> str | None:
    """The user's role on the study, or None."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.OWNER
    return StudyMember.objects.filter(study=study, user=user).values_list("role", flat=True).first()


def has_role(user, study: Study, minimum: str = Role.VIEWER) -> bool:
    role = role_of(user, study)
    return role is not None and _RANK[role] >= _RANK[minimum]


def studies_for(user, minimum: str = Role.VIEWER):
    """The studies the user may see (at least `minimum`), newest first."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    roles = [role for role, rank in _RANK.items() if rank >= _RANK[minimum]]
    return Study.objects.filter(members__user=user, members__role__in=roles).distinct()


def study_for(user, slug: str, minimum: str = Role.VIEWER) -> Study:
    """The study by slug if the user has at least `minimum` on it: 404 when they have no
    role (its existence stays private), 403 when their role is too low."""
    study = Study.objects.filter(slug=slug).first()
    role = role_of(user, study) if study is not None else None
    if role is None:
        raise Http404("No such study.")
    if _RANK[role] < _RANK[minimum]:
        raise PermissionDenied(f"This needs the {minimum} role on the study.")
    return study


def study_role(minimum: str = Role.VIEWER):
    """Decorate a research view taking `slug`: logs in, checks the role, and passes the
    study as `study` in place of the slug."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, slug, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            study = study_for(request.user, slug, minimum)
            request.study_role = role_of(request.user, study)
            return view(request, study, *args, **kwargs)

        return wrapped

    return decorate
