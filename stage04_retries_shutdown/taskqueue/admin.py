from django.contrib import admin

from taskqueue.models import Execution, SentEmail, Task
from taskqueue.retries import requeue


class ExecutionInline(admin.TabularInline):
    model = Execution
    extra = 0
    can_delete = False
    readonly_fields = [
        "attempt",
        "worker",
        "started_at",
        "finished_at",
        "outcome",
        "error_type",
        "error_message",
        "traceback",
    ]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "status",
        "attempts",
        "max_attempts",
        "run_after",
        "worker",
        "finished_at",
    ]
    list_filter = ["status", "name"]
    search_fields = ["name", "worker", "idempotency_key"]
    inlines = [ExecutionInline]
    actions = ["requeue_selected"]

    @admin.action(description="Re-queue selected FAILED or DEAD tasks")
    def requeue_selected(self, request, queryset):
        count = requeue(queryset)
        self.message_user(request, f"Re-queued {count} task(s).")


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "attempt", "worker", "outcome", "started_at", "finished_at"]
    list_filter = ["outcome"]
    search_fields = ["worker", "error_type"]


admin.site.register(SentEmail)
