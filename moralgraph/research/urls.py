from django.urls import include, path

from moralgraph.research import graph_picture, quality, report_views, simulate, views

app_name = "research"

urlpatterns = [
    path("", views.studies, name="studies"),
    path("<slug:slug>/", views.dashboard, name="dashboard"),
    path("<slug:slug>/reconcile/", views.reconcile_now, name="reconcile_now"),
    path("<slug:slug>/rescore/", views.rescore_now, name="rescore_now"),
    path("<slug:slug>/retry-failed/", views.retry_failed, name="retry_failed"),
    path("<slug:slug>/graph/", views.graph, name="graph"),
    path("<slug:slug>/graph/picture/", graph_picture.graph_picture, name="graph_picture"),
    path("<slug:slug>/merges/<int:merge_id>/split/", views.split, name="split"),
    path("<slug:slug>/quality/", include(quality.urlpatterns)),
    path("<slug:slug>/report/", report_views.report_page, name="report"),
    path("<slug:slug>/exports/", views.exports, name="exports"),
    path("<slug:slug>/simulate/", simulate.simulate_page, name="simulate"),
    path("<slug:slug>/exports/<int:job_id>/download/", views.download_job, name="download_job"),
    path("<slug:slug>/exports/now/<str:fmt>/", views.download_now, name="download_now"),
]
