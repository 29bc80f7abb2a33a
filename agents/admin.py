from django.contrib import admin

from agents.models import Agent, AgentVersion, Team


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created"]
    filter_horizontal = ["members"]


class AgentVersionInline(admin.TabularInline):
    model = AgentVersion
    extra = 0


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "team", "created"]
    list_filter = ["kind"]
    inlines = [AgentVersionInline]


@admin.register(AgentVersion)
class AgentVersionAdmin(admin.ModelAdmin):
    list_display = ["agent", "number", "locked", "created"]
    readonly_fields = ["locked"]

    def get_readonly_fields(self, request, obj=None):
        # A version a run has used is immutable.
        if obj is not None and obj.locked:
            return ["agent", "number", "config", "locked"]
        return self.readonly_fields
