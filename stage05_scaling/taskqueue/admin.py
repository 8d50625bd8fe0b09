"""The queue in Django's admin (staff only): filter by status, queue and task; retry or cancel
a selection. Everything a task carries is shown read-only and escaped by the admin."""

from django.contrib import admin

from taskqueue.models import ApiToken, PausedQueue, ScheduledTick, SentEmail, Task, WorkerProcess
from taskqueue.retries import cancel, requeue


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "queue_name",
        "priority",
        "status",
        "attempts",
        "max_attempts",
        "run_after",
        "worker",
        "finished_at",
        "cancel_requested_at",
    ]
    list_filter = ["status", "queue_name", "name"]
    search_fields = ["=id", "name", "worker", "idempotency_key"]
    readonly_fields = ["created_at", "started_at", "finished_at", "worker_ids", "errors", "result"]
    actions = ["retry_selected", "cancel_selected"]
    # The changelist of a table with millions of rows: no full COUNT(*) for the paginator.
    show_full_result_count = False

    @admin.action(description="Retry selected FAILED, DEAD or CANCELLED tasks")
    def retry_selected(self, request, queryset):
        count = requeue(queryset)
        self.message_user(request, f"Re-queued {count} task(s).")

    @admin.action(description="Cancel selected tasks (queued: at once; running: stopped)")
    def cancel_selected(self, request, queryset):
        count = cancel(queryset)
        self.message_user(request, f"Cancelled {count} task(s).")


admin.site.register(SentEmail)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens: whose, what for, when they expire and were last used. Delete one to revoke
    it. New ones come from `manage.py create_token` (the token is shown once, there)."""

    list_display = ["id", "user", "name", "created_at", "expires_at", "last_used_at"]
    list_filter = ["user"]
    readonly_fields = ["user", "name", "digest", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False


@admin.register(WorkerProcess)
class WorkerProcessAdmin(admin.ModelAdmin):
    """Worker processes, alive or recently gone (heartbeat.py): who runs what."""

    list_display = ["id", "hostname", "pid", "task_id", "heartbeat_at", "stopped_at", "exit"]
    list_filter = ["hostname", "stopped_at"]
    readonly_fields = [field.name for field in WorkerProcess._meta.fields]

    def has_add_permission(self, request):
        return False  # written by the workers only


@admin.register(ScheduledTick)
class ScheduledTickAdmin(admin.ModelAdmin):
    """Which tick of which schedule ran as which task, and why a tick was skipped."""

    list_display = ["schedule", "tick", "task_id", "skipped", "created_at"]
    list_filter = ["schedule"]
    readonly_fields = ["schedule", "tick", "task_id", "skipped", "created_at"]


@admin.register(PausedQueue)
class PausedQueueAdmin(admin.ModelAdmin):
    """Paused queues (pause.py): add one to pause a queue, delete it to resume. Workers see
    the change within a second; running tasks finish."""

    list_display = ["name", "paused_at", "paused_by"]
    readonly_fields = ["paused_at", "paused_by"]

    def save_model(self, request, obj, form, change):
        obj.paused_by = request.user.get_username()
        super().save_model(request, obj, form, change)
