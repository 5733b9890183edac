from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete, post_save


class ElicitationConfig(AppConfig):
    name = "elicitation"
    verbose_name = "Elicitation (participant side)"

    def ready(self):
        from elicitation import selectors, signals
        from elicitation.models import Study

        # A study saved or deleted in this process is read afresh by its next request;
        # other processes see it within STUDY_CACHE_SECONDS (selectors.published_study).
        # Now, and again once the change commits: a request of this process reading
        # the study in between would keep the old row.
        def forget(sender, instance, **kwargs):
            slug = instance.slug
            selectors.forget_study(slug)
            transaction.on_commit(lambda: selectors.forget_study(slug))

        def forget_all(sender, **kwargs):  # a status moved by an UPDATE (no instance)
            selectors.forget_study()
            transaction.on_commit(selectors.forget_study)

        post_save.connect(forget, sender=Study, dispatch_uid="mge.forget_study.save")
        post_delete.connect(forget, sender=Study, dispatch_uid="mge.forget_study.delete")
        signals.study_status_changed.connect(forget_all, dispatch_uid="mge.forget_study.status")
