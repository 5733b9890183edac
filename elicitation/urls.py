from django.urls import path

from elicitation import views

app_name = "elicitation"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # The participant journey: one URL per step, in journey order.
    path("s/<slug:slug>/", views.entry, name="entry"),
    path("s/<slug:slug>/consent/", views.consent, name="consent"),
    path("s/<slug:slug>/about/", views.about, name="about"),
    path("s/<slug:slug>/question/", views.question, name="question"),
    path("s/<slug:slug>/interview/", views.interview, name="interview"),
    path(
        "s/<slug:slug>/interview/reply/<int:reply_id>/",
        views.interview_reply,
        name="interview_reply",
    ),
    path(
        "s/<slug:slug>/interview/retry/<int:reply_id>/",
        views.interview_retry,
        name="interview_retry",
    ),
    path("s/<slug:slug>/interview/card/", views.interview_finish, name="interview_finish"),
    path("s/<slug:slug>/card/", views.card, name="card"),
    path("s/<slug:slug>/selection/", views.selection, name="selection"),
    path("s/<slug:slug>/judgments/", views.judgments, name="judgments"),
    path("s/<slug:slug>/survey/", views.survey, name="survey"),
    path("s/<slug:slug>/done/", views.done, name="done"),
    # Later, once the graph is scored: is your value's position in it fair?
    path("s/<slug:slug>/follow-up/", views.follow_up, name="follow_up"),
]
