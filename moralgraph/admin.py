from django.contrib import admin, messages

from moralgraph import models


class CardMappingInline(admin.TabularInline):
    model = models.CardMapping
    extra = 0
    fields = ["card", "mapped_by", "merge", "reason", "created_at", "undone_at"]
    readonly_fields = fields


@admin.register(models.Value)
class ValueAdmin(admin.ModelAdmin):
    list_display = ["title", "study", "wording_source", "is_active", "card_count", "created_at"]
    list_filter = ["study", "is_active", "wording_source"]
    search_fields = ["title", "description"]
    inlines = [CardMappingInline]

    @admin.display(description="cards")
    def card_count(self, value):
        return value.mappings.filter(undone_at=None).count()


@admin.register(models.ValueMerge)
class ValueMergeAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "study",
        "into_value",
        "from_value",
        "decided_by",
        "similarity",
        "created_at",
        "undone_at",
    ]
    list_filter = ["study", "decided_by"]
    search_fields = ["reason"]
    actions = ["split"]

    @admin.action(description="Split: undo the selected merges (scores recompute)")
    def split(self, request, queryset):
        from moralgraph.locks import StudyBusy
        from moralgraph.services.merges import split_merge

        split, moved, busy = 0, 0, 0
        # Newest first, so that undoing a chain of merges peels it in reverse order.
        for merge in queryset.filter(undone_at=None).order_by("-created_at", "-id"):
            try:
                cards = split_merge(merge=merge)
                split, moved = split + 1, moved + len(cards)
            except StudyBusy:
                busy += 1
        self.message_user(request, f"Split {split} merge(s); {moved} card(s) moved back.")
        if busy:
            self.message_user(
                request,
                f"{busy} merge(s) not split: their study is being reconciled; try again soon.",
                level=messages.WARNING,
            )


@admin.register(models.CardMapping)
class CardMappingAdmin(admin.ModelAdmin):
    list_display = ["card", "value", "mapped_by", "created_at", "undone_at"]
    list_filter = ["mapped_by", "value__study"]


@admin.register(models.MergeCheck)
class MergeCheckAdmin(admin.ModelAdmin):
    list_display = ["card", "value", "answer", "participant", "created_at"]
    list_filter = ["study", "answer"]
    raw_id_fields = ["participant", "card", "value", "merge"]


@admin.register(models.Context)
class ContextAdmin(admin.ModelAdmin):
    list_display = ["text", "study", "source", "duplicate_of", "created_at"]
    list_filter = ["study", "source"]
    search_fields = ["text"]


@admin.register(models.HypothesisRun)
class HypothesisRunAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "model", "prompt_version", "started_at", "finished_at"]
    list_filter = ["study"]


@admin.register(models.UpgradeHypothesis)
class UpgradeHypothesisAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "from_value",
        "to_value",
        "context",
        "direction",
        "is_active",
        "created_at",
    ]
    list_filter = ["study", "direction", "is_active"]
    search_fields = ["story"]


@admin.register(models.GraphSnapshot)
class GraphSnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "mode", "as_of", "judgment_count", "input_hash", "created_at"]
    list_filter = ["study", "mode"]
    readonly_fields = ["input_hash", "params", "results"]


@admin.register(models.TrainingResponse)
class TrainingResponseAdmin(admin.ModelAdmin):
    list_display = ["value", "question", "context", "model", "prompt_version", "created_at"]
    list_filter = ["model"]


@admin.register(models.ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "format", "mode", "status", "progress", "total", "created_at"]
    list_filter = ["status", "format"]


@admin.register(models.AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log is written once and never edited, here as anywhere."""

    list_display = ["created_at", "study", "actor_name", "action", "target_type", "target_id"]
    list_filter = ["study", "action"]
    search_fields = ["reason", "actor_name", "target_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """A superuser can see and revoke anyone's token; the secret itself is never stored."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request):
        return False  # tokens are made on the researcher's tokens page, shown once
