from django.urls import path

from elicitation.views import about, arriving, card, interview, judgments, selection, survey

app_name = "elicitation"

urlpatterns = [
    path("", arriving.home, name="home"),
    path("healthz", arriving.healthz, name="healthz"),
    # The participant journey: one URL per step, in journey order.
    path("s/<slug:slug>/", arriving.entry, name="entry"),
    path("s/<slug:slug>/test/<str:token>/", arriving.test_link, name="test_link"),
    path("s/<slug:slug>/consent/", arriving.consent, name="consent"),
    # The same recruiter id in another browser (resume code), or another id in this one.
    path("s/<slug:slug>/resume/", arriving.resume, name="resume"),
    path("s/<slug:slug>/switch/", arriving.switch, name="switch"),
    path("s/<slug:slug>/about/", about.about, name="about"),
    path("s/<slug:slug>/question/", interview.question, name="question"),
    path("s/<slug:slug>/interview/", interview.interview, name="interview"),
    path(
        "s/<slug:slug>/interview/reply/<int:reply_id>/",
        interview.interview_reply,
        name="interview_reply",
    ),
    path(
        "s/<slug:slug>/interview/retry/<int:reply_id>/",
        interview.interview_retry,
        name="interview_retry",
    ),
    path("s/<slug:slug>/interview/card/", interview.interview_finish, name="interview_finish"),
    path("s/<slug:slug>/card/", card.card, name="card"),
    path("s/<slug:slug>/card/revise/", card.card_revise, name="card_revise"),
    path("s/<slug:slug>/selection/", selection.selection, name="selection"),
    path("s/<slug:slug>/judgments/", judgments.judgments, name="judgments"),
    path("s/<slug:slug>/survey/", survey.survey, name="survey"),
    path("s/<slug:slug>/done/", survey.done, name="done"),
    # Later, once the graph is scored: is your value's position in it fair?
    path("s/<slug:slug>/follow-up/", survey.follow_up, name="follow_up"),
]
