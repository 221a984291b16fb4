"""The project's ASGI application plus Django's static files handler, for `make demo` (uvicorn).

Only `manage.py runserver` serves static files by itself. In production serve STATIC_ROOT
(`manage.py collectstatic`) from the proxy in front of uvicorn instead; see README.md.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from config.asgi import application as project_application

application = ASGIStaticFilesHandler(project_application)
