"""Staff roles as Django groups (SPEC 6). Created and kept in sync by migrations."""

VIEW_ALL = "view"  # every view_* permission of the project's apps

PROJECT_APPS = ["portal", "sources", "players", "contributions"]

OPS_STAFF = "Ops staff"
GAME_MAPPING_ADMINS = "Game-mapping admins"
AUDITORS = "Auditors"

ROLES: dict[str, list[str]] = {
    # Day-to-day operation: watch, opt players in or out, handle wins, credits and callbacks.
    OPS_STAFF: [
        VIEW_ALL,
        "players.change_optin",
        "sources.change_instance_state",
        "sources.adjust_pot",
        "contributions.decide_win",
        "contributions.retry_credit",
        "contributions.resend_webhookdelivery",
    ],
    # Configure the catalogue: sources, game groups and games, instances and their pots.
    GAME_MAPPING_ADMINS: [
        VIEW_ALL,
        *[f"sources.{action}_{model}" for action in ("add", "change", "delete")
          for model in ("source", "sourcemapping", "gamegroup", "game", "jackpotinstance", "pot",
                        "instancecurrencylimit")],
    ],
    # Read everything, change nothing.
    AUDITORS: [VIEW_ALL],
}


def roles_sync(apps, schema_editor=None) -> None:
    """Create the groups and give each exactly its permissions (safe to run again)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for entry in wanted:
            if entry == VIEW_ALL:
                perms += list(Permission.objects.filter(content_type__app_label__in=PROJECT_APPS,
                                                        codename__startswith="view_"))
                continue
            app_label, codename = entry.split(".")
            perms += list(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(perms)
