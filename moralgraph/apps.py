from django.apps import AppConfig


class MoralGraphConfig(AppConfig):
    name = "moralgraph"
    verbose_name = "Moral graph"

    def ready(self) -> None:
        # The participant side never imports this app: it asks for its draws through the
        # journey's registry and announces cards and judgments by signal.
        from elicitation import journey, signals
        from moralgraph.services import draws

        _check_pairwise_params()

        journey.register_step_drawer(journey.Step.SELECTION, draws.draw_selection)
        journey.register_step_drawer(journey.Step.JUDGMENTS, draws.draw_judgments)
        signals.card_submitted.connect(_queue_card, dispatch_uid="moralgraph.process_card")
        signals.card_submitted.connect(_screen_card, dispatch_uid="moralgraph.screen_card")
        signals.judgment_recorded.connect(
            _queue_judgment, dispatch_uid="moralgraph.judgment_recorded"
        )
        signals.study_status_changed.connect(_audit_status, dispatch_uid="moralgraph.audit_status")


def _check_pairwise_params() -> None:
    """A misspelt PAIRWISE_PARAMS name stops the process at start, not the first scoring."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from moralgraph.graph.pairwise import PairwiseParams

    try:
        PairwiseParams.from_mapping(getattr(settings, "PAIRWISE_PARAMS", None))
    except (TypeError, ValueError) as error:
        raise ImproperlyConfigured(f"PAIRWISE_PARAMS: {error}") from None


def _queue_card(sender, *, card_id: int, **kwargs) -> None:
    from elicitation.queue import enqueue_on_commit

    enqueue_on_commit("moralgraph.tasks.process_card", card_id)


def _screen_card(sender, *, card_id: int, **kwargs) -> None:
    """The LLM pre-screen (moralgraph.services.screening), unless LLM_SCREEN_CARDS is off."""
    from django.conf import settings

    from elicitation.queue import enqueue_on_commit

    if settings.LLM_SCREEN_CARDS:
        enqueue_on_commit("moralgraph.tasks.screen_card", card_id)


def _queue_judgment(sender, *, study_id: int, **kwargs) -> None:
    from elicitation.queue import enqueue_on_commit

    enqueue_on_commit("moralgraph.tasks.judgment_recorded", study_id)


def _audit_status(sender, *, study_id: int, old: str, new: str, reason: str, actor, **kwargs):
    # Every move of a study, by hand or by a quota, goes into its audit log.
    from moralgraph.services.merges import audit

    audit(
        study_id=study_id,
        actor=actor,
        action="status",
        target=sender.objects.only("pk").get(pk=study_id),
        reason=reason,
        details={"from": old, "to": new, "automatic": actor is None},
    )
