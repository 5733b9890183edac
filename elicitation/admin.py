from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from elicitation import models
from elicitation.queue import enqueue_on_commit


class QuestionInline(admin.TabularInline):
    model = models.Question
    extra = 0
    fields = ["position", "key", "title", "text"]


class DemographicItemInline(admin.TabularInline):
    model = models.DemographicItem
    extra = 0
    fields = ["position", "key", "label", "help_text", "kind", "choices"]


@admin.register(models.Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "status", "participant_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    # The status moves only by the allowed steps, each audited, from the study's page
    # head (services.lifecycle); here it is shown, and a new study starts in draft.
    readonly_fields = [
        "lifecycle",
        "closed_at",
        "graph_changed_at",
        "scored_at",
        "created_at",
        "updated_at",
    ]
    exclude = ["status"]
    inlines = [QuestionInline, DemographicItemInline]

    @admin.display(description="status")
    def lifecycle(self, study):
        if study.pk is None:
            return "Draft (a new study starts in draft)"
        return format_html(
            '{} · <a href="{}">change it from the study\'s research page</a>',
            study.get_status_display(),
            reverse("research:dashboard", args=[study.slug]),
        )

    def get_inlines(self, request, obj):
        # A new study gets the default "About you" items when saved; edit them after.
        return self.inlines if obj is not None else [QuestionInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Contexts of new or edited questions are extracted now, not at the next sweep.
        enqueue_on_commit("moralgraph.tasks.reconcile_study", obj.pk)

    @admin.display(description="participants")
    def participant_count(self, study):
        return study.participants.count()


@admin.register(models.Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["title", "study", "key", "position"]
    list_filter = ["study"]
    search_fields = ["title", "text"]


class DemographicsInline(admin.StackedInline):
    model = models.Demographics
    extra = 0


@admin.register(models.Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["public_id", "study", "question", "step", "consented_at", "completed_at"]
    list_filter = ["study", "step"]
    # Recruiter ids are searchable for support requests but never listed.
    search_fields = ["public_id", "recruiter_pid"]
    readonly_fields = ["public_id", "session_key", "created_at", "updated_at"]
    inlines = [DemographicsInline]


@admin.register(models.ConsentDecline)
class ConsentDeclineAdmin(admin.ModelAdmin):
    list_display = ["study", "created_at"]
    list_filter = ["study"]


@admin.register(models.Demographics)
class DemographicsAdmin(admin.ModelAdmin):
    list_display = ["participant", "answers", "created_at"]
    list_filter = ["participant__study"]


class MessageInline(admin.TabularInline):
    model = models.Message
    extra = 0
    fields = ["seq", "role", "status", "content", "created_at"]
    readonly_fields = fields


@admin.register(models.Interview)
class InterviewAdmin(admin.ModelAdmin):
    list_display = ["id", "participant", "question", "status", "created_at"]
    list_filter = ["status", "question__study", "question"]
    inlines = [MessageInline]


@admin.register(models.Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["interview", "seq", "role", "status", "created_at"]
    list_filter = ["role", "status"]
    search_fields = ["content"]


@admin.register(models.ValuesCard)
class ValuesCardAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "study",
        "question",
        "status",
        "edited_by_participant",
        "reconcile_status",
        "created_at",
    ]
    list_filter = ["study", "status", "reconcile_status", "quality", "edited_by_participant"]
    search_fields = ["title", "description"]
    readonly_fields = ["embedding_model", "embedded_at", "reconciled_at", "reconcile_attempts"]
    actions = ["retry_reconciliation"]

    @admin.action(description="Retry reconciliation of the selected failed cards")
    def retry_reconciliation(self, request, queryset):
        from moralgraph.services.reconcile import retry_failed_cards

        count = retry_failed_cards(queryset)
        self.message_user(request, f"{count} failed card(s) queued for reconciliation again.")


@admin.register(models.Impression)
class ImpressionAdmin(admin.ModelAdmin):
    list_display = ["participant", "value", "question", "reason", "created_at"]
    list_filter = ["question__study", "reason"]


@admin.register(models.Selection)
class SelectionAdmin(admin.ModelAdmin):
    list_display = ["participant", "value", "question", "created_at"]
    list_filter = ["question__study"]


@admin.register(models.WiserJudgment)
class WiserJudgmentAdmin(admin.ModelAdmin):
    list_display = ["participant", "hypothesis", "verdict", "reason_private", "created_at"]
    list_filter = ["verdict", "hypothesis__study"]
    search_fields = ["reason"]


@admin.register(models.JudgmentAssignment)
class JudgmentAssignmentAdmin(admin.ModelAdmin):
    list_display = ["participant", "hypothesis", "position", "created_at"]
    list_filter = ["hypothesis__study"]


@admin.register(models.LLMRequest)
class LLMRequestAdmin(admin.ModelAdmin):
    list_display = ["created_at", "study", "participant", "kind"]
    list_filter = ["study", "kind"]


@admin.register(models.SurveyAnswer)
class SurveyAnswerAdmin(admin.ModelAdmin):
    list_display = [
        "study",
        "participant",
        "source",
        "represented",
        "clarified",
        "learned",
        "respect",
        "trust",
        "fair",
        "fair_position",
    ]
    list_filter = ["study", "source", "fair"]


@admin.register(models.LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "stage",
        "model",
        "prompt_name",
        "prompt_version",
        "input_tokens",
        "output_tokens",
        "cost",
        "latency_ms",
        "attempts",
        "failed",
    ]
    list_filter = ["stage", "model", "study"]
    search_fields = ["error"]

    @admin.display(boolean=True)
    def failed(self, call):
        return bool(call.error)


@admin.register(models.WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "seen_at"]
