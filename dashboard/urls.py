import re

from django.conf import settings
from django.contrib.staticfiles.views import serve
from django.urls import path, re_path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("c/<slug:slug>/", views.goal_page, name="goal"),
    path("c/<slug:slug>/snapshot.json", views.snapshot_json, name="snapshot"),
    path("c/<slug:slug>/events/", views.campaign_events, name="events"),
    path("s/<str:token>/", views.screen_page, name="screen"),
    path("s/<str:token>/snapshot.json", views.screen_snapshot_json, name="screen-snapshot"),
    path("s/<str:token>/events/", views.screen_events_stream, name="screen-events"),
    path("s/<str:token>/heartbeat", views.screen_heartbeat, name="screen-heartbeat"),
    path("healthz", views.healthz, name="healthz"),
]

# runserver serves /static/ itself; uvicorn does not. With DEBUG (or SERVE_STATIC) on, serve the
# apps' static folders here, as runserver does (staticfiles finders: no collectstatic, no path
# escapes). Otherwise run collectstatic and let the proxy in front serve STATIC_ROOT.
if getattr(settings, "SERVE_STATIC", settings.DEBUG) and not settings.STATIC_URL.startswith(("http", "//")):
    urlpatterns.append(
        re_path(rf"^{re.escape(settings.STATIC_URL.lstrip('/'))}(?P<path>.+)$", serve, {"insecure": True})
    )
