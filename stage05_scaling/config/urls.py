"""URLs: the admin, the task API, and the queue's health, metrics and dashboard."""

from django.contrib import admin
from django.urls import path

from taskqueue import api, views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("tasks/", api.enqueue_task, name="task-enqueue"),
    path("tasks/<int:task_id>/", api.task_status, name="task-status"),
    path("tasks/<int:task_id>/cancel/", api.cancel_task, name="task-cancel"),
    path("health/", views.health, name="health"),
    path("metrics/", views.metrics, name="metrics"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
