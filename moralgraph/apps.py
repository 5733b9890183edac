from django.apps import AppConfig


class MoralGraphConfig(AppConfig):
    name = "moralgraph"
    verbose_name = "Moral graph"
