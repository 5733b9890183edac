from django.urls import include, path
from django.views.generic import RedirectView

from moralgraph.research import (
    approval,
    graph_picture,
    lifecycle_views,
    moderation,
    quality,
    report_views,
    setup_views,
    simulate,
    tokens,
    views,
)

app_name = "research"

urlpatterns = [
    path("", views.studies, name="studies"),
    path("new/", setup_views.new_study, name="new_study"),
    path("new/suggest/", setup_views.suggest_new, name="suggest_new"),
    path("tokens/", tokens.tokens_page, name="tokens"),
    path("tokens/<int:token_id>/revoke/", tokens.revoke, name="revoke_token"),
    path("<slug:slug>/", views.dashboard, name="dashboard"),
    path("<slug:slug>/status/", lifecycle_views.change_status, name="change_status"),
    path("<slug:slug>/settings/", setup_views.settings_page, name="settings"),
    path("<slug:slug>/settings/suggest/", setup_views.suggest, name="suggest"),
    path("<slug:slug>/members/", setup_views.members, name="members"),
    path("<slug:slug>/reconcile/", views.reconcile_now, name="reconcile_now"),
    path("<slug:slug>/rescore/", views.rescore_now, name="rescore_now"),
    path("<slug:slug>/retry-failed/", views.retry_failed, name="retry_failed"),
    path("<slug:slug>/graph/", graph_picture.graph_picture, name="graph"),
    # The picture's first address: old bookmarks land on it.
    path(
        "<slug:slug>/graph/picture/",
        RedirectView.as_view(pattern_name="research:graph", query_string=True),
        name="graph_picture",
    ),
    path("<slug:slug>/review/", views.review_page, name="review"),
    path("<slug:slug>/merges/<int:merge_id>/split/", views.split, name="split"),
    path("<slug:slug>/quality/", include(quality.urlpatterns)),
    path("<slug:slug>/moderation/", include(moderation.urlpatterns)),
    path("<slug:slug>/report/", report_views.report_page, name="report"),
    path("<slug:slug>/exports/", views.exports, name="exports"),
    path("<slug:slug>/simulate/", simulate.simulate_page, name="simulate"),
    path("<slug:slug>/exports/<int:job_id>/download/", views.download_job, name="download_job"),
    path("<slug:slug>/exports/approval.csv", approval.download_approval, name="approval"),
    path("<slug:slug>/exports/now/<str:fmt>/", views.download_now, name="download_now"),
]
