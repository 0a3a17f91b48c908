from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from backups_app import views
from backups_app.api.site import api

# Registered here rather than at start-up (settings: SimpleAdminConfig): only what serves pages needs it.
admin.autodiscover()

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
