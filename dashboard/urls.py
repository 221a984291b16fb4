import django_eventstream
from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("c/<slug:slug>/", views.goal_page, name="goal"),
    path("c/<slug:slug>/snapshot.json", views.snapshot_json, name="snapshot"),
    path(
        "c/<slug:slug>/events/",
        django_eventstream.views.events,
        {"format-channels": ["campaign-{slug}"]},  # keep in step with events.campaign_channel
        name="events",
    ),
    path("healthz", views.healthz, name="healthz"),
]
