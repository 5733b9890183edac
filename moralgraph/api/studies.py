"""Studies and what they asked: questions, contexts and the graph's values."""

from django.db.models import Case, CharField, Value, When
from ninja import Router
from ninja.pagination import paginate

from elicitation import selectors as elicitation_selectors
from moralgraph.api.auth import study_for
from moralgraph.api.errors import ERRORS, LIST_ERRORS
from moralgraph.api.pagination import Paginated
from moralgraph.api.schemas import (
    ContextOut,
    Counts,
    QuestionOut,
    Slug,
    SnapshotOut,
    StudyDetail,
    StudyOut,
    ValueOut,
)
from moralgraph.models import Context, GraphSnapshot
from moralgraph.models import Value as GraphValue
from moralgraph.research.access import Role, role_of, studies_for

router = Router(tags=["studies"])


def _study(study, role: str) -> dict:
    return {
        "slug": study.slug,
        "title": study.title,
        "description": study.description,
        "status": study.status,
        "role": role,
        "created_at": study.created_at,
    }


def graph_values(study):
    """The values in the graph: active ones no researcher hid."""
    return GraphValue.objects.filter(study=study, is_active=True, hidden_at=None)


@router.get("/studies", response={200: list[StudyOut], **LIST_ERRORS})
@paginate(Paginated)
def list_studies(request):
    """The studies where the token's owner has a role (every study for a superuser)."""
    user = request.auth.user
    studies = studies_for(user).order_by("-created_at", "-pk")
    if user.is_superuser:
        return studies.annotate(role=Value(Role.OWNER, output_field=CharField()))
    roles = dict(user.study_roles.values_list("study_id", "role"))
    return studies.annotate(
        role=Case(
            *[When(pk=pk, then=Value(role)) for pk, role in roles.items()],
            output_field=CharField(),
        )
    )


@router.get("/studies/{slug}", response={200: StudyDetail, **ERRORS})
def get_study(request, slug: str = Slug):
    study = study_for(request, slug)
    snapshot = GraphSnapshot.latest_for(study)
    return {
        **_study(study, role_of(request.auth.user, study)),
        "estimated_minutes": study.estimated_minutes,
        "licence": study.licence,
        "closed_at": study.closed_at,
        "counts": Counts(
            participants=elicitation_selectors.counted_participants(study).count(),
            cards=elicitation_selectors.counted_cards(study).count(),
            judgments=elicitation_selectors.counted_judgments(study).count(),
            values=graph_values(study).count(),
            contexts=Context.objects.filter(study=study, duplicate_of=None).count(),
        ),
        "latest_snapshot": SnapshotOut.from_orm(snapshot) if snapshot else None,
    }


@router.get("/studies/{slug}/questions", response={200: list[QuestionOut], **ERRORS})
@paginate(Paginated)
def list_questions(request, slug: str = Slug):
    return study_for(request, slug).questions.order_by("position", "pk")


@router.get("/studies/{slug}/contexts", response={200: list[ContextOut], **ERRORS})
@paginate(Paginated)
def list_contexts(request, slug: str = Slug):
    """Every context, duplicates included (``duplicate_of`` names the one they repeat)."""
    contexts = (
        Context.objects.filter(study=study_for(request, slug))
        .prefetch_related("questions")
        .order_by("pk")
    )
    return [
        {
            "id": c.pk,
            "text": c.text,
            "source": c.source,
            "question_keys": [q.key for q in sorted(c.questions.all(), key=_question_order)],
            "duplicate_of": c.duplicate_of_id,
            "external_id": c.external_id,
        }
        for c in contexts
    ]


def _question_order(question):
    return (question.position, question.pk)


@router.get("/studies/{slug}/values", response={200: list[ValueOut], **ERRORS})
@paginate(Paginated)
def list_values(request, slug: str = Slug):
    """The graph's values: merged-away and hidden ones are left out."""
    return graph_values(study_for(request, slug)).order_by("pk")
