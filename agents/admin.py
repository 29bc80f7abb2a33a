from django.contrib import admin

from agents.models import Agent, AgentVersion, Invitation, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["team", "email", "invited_by", "created", "expires", "accepted_by"]
    # The token itself is never stored; its hash is of no use to anyone reading this page.
    exclude = ["token_hash"]
    readonly_fields = ["team", "email", "invited_by", "expires", "accepted_by", "accepted_at"]


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
