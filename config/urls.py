from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from moralgraph.api.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="research/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("research/", include("moralgraph.research.urls")),
    path("api/", api.urls),
    path("", include("elicitation.urls")),
]

# A malformed or oversized request: the journey's page, naming the limit, never the input.
handler400 = "elicitation.http.bad_request"
