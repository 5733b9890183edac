from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("research/", include("moralgraph.urls")),
    path("", include("elicitation.urls")),
]
