"""Staff roles as Django groups (SPEC 6). Created and kept in sync after every migrate."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

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
        "sources.approve_pot_decrease",  # four eyes: never one's own decrease or payout (the service says so)
        "contributions.decide_win",
        "contributions.retry_credit",
        "contributions.resend_webhookdelivery",
    ],
    # Configure the catalogue: sources, game groups and games, templates, instances and their pots.
    GAME_MAPPING_ADMINS: [
        VIEW_ALL,
        *[f"sources.{action}_{model}" for action in ("add", "change", "delete")
          for model in ("source", "sourcemapping", "gamegroup", "game", "jackpotinstance", "pot",
                        "instancecurrencylimit", "jackpottemplate")],
    ],
    # Read everything, change nothing.
    AUDITORS: [VIEW_ALL],
}


def roles_sync(apps, schema_editor=None, *, using: str | None = None) -> None:
    """Create the groups and give each exactly its permissions (safe to run again)."""
    using = using or (schema_editor.connection.alias if schema_editor else DEFAULT_DB_ALIAS)
    for app_label in PROJECT_APPS:
        app_config = apps.get_app_config(app_label)
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True  # migration state apps have none; create_permissions skips those
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = models_module  # restored: global apps must keep theirs

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    project = {(p.content_type.app_label, p.codename): p for p in Permission.objects.using(using).filter(
        content_type__app_label__in=PROJECT_APPS).select_related("content_type")}
    for name, wanted in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set([perm for (app_label, codename), perm in project.items()
                               if f"{app_label}.{codename}" in wanted
                               or (VIEW_ALL in wanted and codename.startswith("view_"))])


def roles_after_migrate(sender, apps=global_apps, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate: the data migrations sync the roles before later migrations add models
    (WalletConfig, RaffleDraw, ...), so sync again once every app is migrated (and after a flush)."""
    try:
        apps.get_model("auth", "Group")
        for app_label in PROJECT_APPS:
            apps.get_app_config(app_label)
    except LookupError:
        return  # a partial migrate (auth or one of our apps not there yet)
    roles_sync(apps, using=using)
