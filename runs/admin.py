from django.contrib import admin, messages

from runs import control
from runs.models import Episode, Run, Scenario, Step, Suite


class ScenarioInline(admin.TabularInline):
    model = Scenario
    extra = 0


@admin.register(Suite)
class SuiteAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "team", "content_hash", "created"]
    inlines = [ScenarioInline]


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["key", "suite", "task", "condition"]
    list_filter = ["condition"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "agent_version", "suite", "status", "team", "created"]
    list_filter = ["status"]
    # A status changed by hand would only relabel the run (its episodes would play on): cancel through the
    # service, which stops them.
    readonly_fields = ["status", "event_seq", "started", "finished"]
    actions = ["cancel_runs"]

    @admin.action(description="Cancel the selected runs (withdraw queued episodes, stop running ones)")
    def cancel_runs(self, request, queryset):
        for run in queryset.select_related("team"):
            try:
                done = control.cancel_run(run, None)
            except control.RunControlError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"Run #{run.pk}: {done.message}")


@admin.register(Episode)
class EpisodeAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "scenario", "trial", "status", "success", "committed_harms", "attempts"]
    list_filter = ["status"]
    # Statuses move only through the services, which keep the run's counters and live pages in step.
    readonly_fields = ["status", "attempts", "lease_until", "seq"]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["id", "episode", "index", "action", "error"]
