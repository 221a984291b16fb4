import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("fundraiser")


@app.on_after_configure.connect
def _start_embedded_redis(**_kwargs) -> None:
    # When a worker, beat or any celery command first reads its configuration (the broker URL).
    from config.local import start_embedded_redis

    start_embedded_redis()


app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
