from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("research/", include("moralgraph.research.urls")),
    path("", include("elicitation.urls")),
]
