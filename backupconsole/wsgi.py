import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backupconsole.settings")
# Gunicorn started by hand (not through manage.py, the image or the systemd units): files the
# web process creates, the console database first, stay private all the same (see manage.py).
os.umask(0o077)
application = get_wsgi_application()
