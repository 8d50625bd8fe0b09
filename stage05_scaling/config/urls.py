"""URLs: the admin, where the queue table can be watched and edited."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
