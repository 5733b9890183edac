"""Setting a study up: create it (its creator becomes its owner, and it starts in draft),
change its settings and questions, and who may work on it. Every change is a line of the
study's audit log ("settings" or "member"); views call these, and never write rows.
"""

from __future__ import annotations

from django.db import transaction

from elicitation import llm
from elicitation.models import Question, Study, StudyMember
from elicitation.queue import enqueue_on_commit
from elicitation.services import lifecycle
from moralgraph.models import AuditEntry
from moralgraph.services.merges import audit

Role = StudyMember.Role
QUESTION_FIELDS = ("key", "title", "text", "seed_message")


class MemberError(ValueError):
    """A change of members that would leave the study without an owner, or twice a member."""


@transaction.atomic
def create_study(*, actor, fields: dict, questions: list[dict]) -> Study:
    """A new study in draft with ``fields`` and ``questions`` (dicts of QUESTION_FIELDS,
    in order), owned by ``actor``."""
    study = Study(**fields)
    study.status = Study.Status.DRAFT
    study.save()
    _save_questions(study, questions)
    StudyMember.objects.create(study=study, user=actor, role=Role.OWNER)
    _extract_contexts(study)
    audit(
        study_id=study.pk,
        actor=actor,
        action=AuditEntry.Action.SETTINGS,
        target=study,
        reason="Created the study.",
        details={"created": True, "fields": sorted([*fields, "questions"])},
    )
    return study


@transaction.atomic
def update_settings(*, study: Study, actor, fields: dict, questions: list[dict]) -> list[str]:
    """Set ``fields`` on the study and make its questions ``questions`` (each with the
    ``id`` of the question it edits, or None for a new one; those left out are deleted).
    Returns the names of what changed ("questions" for any change of them), audited."""
    changed = [name for name, value in fields.items() if getattr(study, name) != value]
    for name in changed:
        setattr(study, name, fields[name])
    if changed:
        study.save(update_fields=[*changed, "updated_at"])
    if _save_questions(study, questions):
        changed.append("questions")
        _extract_contexts(study)
    if changed:
        audit(
            study_id=study.pk,
            actor=actor,
            action=AuditEntry.Action.SETTINGS,
            target=study,
            reason="Changed on the settings page.",
            details={"fields": changed},
        )
    if {"max_completed", "group_quotas"} & set(changed):
        # A quota lowered below what is already done closes a live study now, not at
        # the next completion or sweep.
        lifecycle.check_quotas(study)
    return changed


def _extract_contexts(study: Study) -> None:
    # Contexts of new or edited questions are extracted now, not at the next sweep (as
    # the admin does on save).
    enqueue_on_commit("moralgraph.tasks.reconcile_study", study.pk)


def _save_questions(study: Study, questions: list[dict]) -> bool:
    """Make the study's questions these, in this order; whether anything changed."""
    existing = {q.pk: q for q in study.questions.all()}
    kept = {row["id"] for row in questions if row.get("id") in existing}
    gone = [pk for pk in existing if pk not in kept]
    changed = bool(gone)
    Question.objects.filter(pk__in=gone).delete()
    # Keys are unique per study: park the renamed ones first, so two questions can swap.
    renamed = [
        existing[row["id"]]
        for row in questions
        if row.get("id") in existing and existing[row["id"]].key != row["key"]
    ]
    for question in renamed:
        question.key = f"renaming-{question.pk}"
        question.save(update_fields=["key"])
    for position, row in enumerate(questions):
        values = {name: row.get(name, "") for name in QUESTION_FIELDS} | {"position": position}
        question = existing.get(row.get("id"))
        if question is None:
            Question.objects.create(study=study, **values)
            changed = True
            continue
        differs = [name for name, value in values.items() if getattr(question, name) != value]
        if differs or question in renamed:
            for name, value in values.items():
                setattr(question, name, value)
            question.save()
            changed = True
    return changed


# --- Members ---------------------------------------------------------------------------


def _audit_member(study: Study, actor, member: StudyMember, reason: str, **details) -> None:
    audit(
        study_id=study.pk,
        actor=actor,
        action=AuditEntry.Action.MEMBER,
        target=member,
        reason=reason,
        details={"user": member.user.get_username(), **details},
    )


def _owners(study: Study) -> int:
    return StudyMember.objects.filter(study=study, role=Role.OWNER).count()


@transaction.atomic
def add_member(*, study: Study, actor, user, role: str) -> StudyMember:
    if StudyMember.objects.filter(study=study, user=user).exists():
        raise MemberError(f"{user.get_username()} is already a member; change their role below.")
    member = StudyMember.objects.create(study=study, user=user, role=role)
    _audit_member(study, actor, member, f"Added as {role}.", role=role)
    return member


@transaction.atomic
def change_role(*, study: Study, actor, member: StudyMember, role: str) -> bool:
    """Give the member ``role``; whether it changed. The last owner stays an owner."""
    member = StudyMember.objects.select_for_update().get(pk=member.pk, study=study)
    if member.role == role:
        return False
    if member.role == Role.OWNER and _owners(study) == 1:
        raise MemberError("The study needs an owner: make someone else owner first.")
    was, member.role = member.role, role
    member.save(update_fields=["role"])
    _audit_member(study, actor, member, f"Role changed from {was} to {role}.", role=role, was=was)
    return True


@transaction.atomic
def remove_member(*, study: Study, actor, member: StudyMember) -> None:
    member = StudyMember.objects.select_for_update().get(pk=member.pk, study=study)
    if member.role == Role.OWNER and _owners(study) == 1:
        raise MemberError("The study needs an owner: the last owner cannot be removed.")
    _audit_member(study, actor, member, "Removed from the study.", was=member.role)
    member.delete()


# --- Suggestions -----------------------------------------------------------------------


def suggest_questions(
    *, title: str, description: str = "", existing: list[dict] | None = None, study=None
) -> list[dict]:
    """Candidate questions (key, title, text, seed_message, contexts) for a study on
    ``title``, from the "suggest" LLM stage; nothing is saved. ``existing`` questions
    (key, title, text) are not suggested again. Raises llm.LLMError."""
    payload = {
        "title": title,
        "description": description,
        "existing": [{k: q.get(k, "") for k in ("key", "title", "text")} for q in existing or []],
    }
    reply = llm.structured(
        stage="suggest", prompt=llm.load_prompt("elicitation/suggest"), payload=payload, study=study
    )
    taken = {q["key"] for q in payload["existing"]}
    return [q for q in reply["questions"] if q["key"] not in taken]
