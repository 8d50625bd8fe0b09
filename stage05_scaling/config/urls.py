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
    path("dashboard/queues/<str:name>/", views.queue_tasks, name="dashboard-queue"),
    path(
        "dashboard/queues/<str:name>/pause/",
        views.queue_action,
        {"action": "pause"},
        name="dashboard-queue-pause",
    ),
    path(
        "dashboard/queues/<str:name>/resume/",
        views.queue_action,
        {"action": "resume"},
        name="dashboard-queue-resume",
    ),
    path("dashboard/tasks/", views.find_task, name="dashboard-find-task"),
    path("dashboard/tasks/<int:task_id>/", views.task_page, name="dashboard-task"),
    path(
        "dashboard/tasks/<int:task_id>/retry/",
        views.task_action,
        {"action": "retry"},
        name="dashboard-task-retry",
    ),
    path(
        "dashboard/tasks/<int:task_id>/cancel/",
        views.task_action,
        {"action": "cancel"},
        name="dashboard-task-cancel",
    ),
]
