"""The ASGI application plus Django's static files handler, for `make demo` (uvicorn).

Only `manage.py runserver` serves static files by itself. In production serve STATIC_ROOT
(`manage.py collectstatic`) from the proxy in front of uvicorn instead; see README.md.
"""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = ASGIStaticFilesHandler(get_asgi_application())
