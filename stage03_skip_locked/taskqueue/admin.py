from django.contrib import admin

from taskqueue.models import Execution, Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "status", "worker", "created_at", "started_at", "finished_at"]
    list_filter = ["status", "name"]
    search_fields = ["name", "worker"]


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "worker", "started_at"]
    search_fields = ["worker"]
