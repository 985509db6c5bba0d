"""WSGI application of the GeoDjango comparison server (``gunicorn bench.geodjango.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.geodjango.settings")
application = get_wsgi_application()
