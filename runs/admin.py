from django.contrib import admin

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


@admin.register(Episode)
class EpisodeAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "scenario", "trial", "status", "success", "committed_harms", "attempts"]
    list_filter = ["status"]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["id", "episode", "index", "action", "error"]
