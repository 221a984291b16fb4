import os

from django.core.wsgi import get_wsgi_application

from config.local import start_embedded_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
start_embedded_redis()
application = get_wsgi_application()
