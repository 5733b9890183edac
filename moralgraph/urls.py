from django.urls import path

from moralgraph import views

app_name = "moralgraph"

urlpatterns = [
    path("<slug:slug>/exports/", views.exports, name="exports"),
    path("<slug:slug>/exports/<int:job_id>/download/", views.download_job, name="download_job"),
    path("<slug:slug>/exports/now/<str:fmt>/", views.download_now, name="download_now"),
]
