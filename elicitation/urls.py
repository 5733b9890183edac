from django.urls import path

from elicitation import views

app_name = "elicitation"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
]
