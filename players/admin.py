from django.contrib import admin

from players.models import OptIn, Player, RaffleTicket
from portal.admin_base import ScopedAdmin


@admin.register(Player)
class PlayerAdmin(ScopedAdmin):
    scope_mode = "brand"
    list_display = ["player_id", "brand", "country", "currency", "exclusion", "excluded_until", "created_at",
                    "last_seen_at"]
    list_filter = ["brand", "exclusion", "country", "currency"]
    search_fields = ["player_id"]
    list_select_related = ["brand__operator"]
    # Exclusions come from the operator (service API) or its wallet, never typed in here.
    readonly_fields = ["brand", "player_id", "created_at", "last_seen_at", "exclusion", "excluded_until",
                       "exclusion_source", "exclusion_changed_at"]

    def has_add_permission(self, request):
        return False  # players appear with their first contribution or opt-in


@admin.register(OptIn)
class OptInAdmin(ScopedAdmin):
    scope_mode = "brand"
    scope_path = "player__brand"
    list_display = ["player", "jackpot", "opted_in", "preferred_contribution_value", "currency",
                    "contribution_count", "last_updated"]
    list_filter = ["opted_in", "jackpot"]
    search_fields = ["player__player_id", "jackpot__name"]
    list_select_related = ["player__brand__operator", "jackpot"]
    readonly_fields = ["player", "jackpot", "contribution_count", "last_updated"]

    def has_add_permission(self, request):
        return False  # opt-ins are made over the WebSocket API (also from the staff player page)


@admin.register(RaffleTicket)
class RaffleTicketAdmin(ScopedAdmin):
    scope_mode = "brand"
    scope_path = "player__brand"
    list_display = ["player", "jackpot", "period", "ticket_count", "accumulated_cost", "updated_at"]
    list_filter = ["jackpot"]
    search_fields = ["player__player_id", "jackpot__name"]
    list_select_related = ["player__brand__operator", "jackpot"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
