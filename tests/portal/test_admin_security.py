"""The admin cannot be used around roles and scopes: History pages never save, history follows
the scoped lists, actions touch only what the user may change, and migrate gives the roles
every permission (issue 11, items 1, 3 and 13)."""

from decimal import Decimal as D

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from contributions.models import Contribution, WebhookDelivery, Win
from players.models import OptIn, Player
from portal.auth import service_authenticate
from portal.models import Brand, BrandCurrencyMultiplier, Currency, Operator, ServiceAccount
from portal.roles import AUDITORS, GAME_MAPPING_ADMINS, OPS_STAFF, PROJECT_APPS, ROLES, VIEW_ALL
from sources.models import GameGroup, JackpotInstance, Pot, PotAdjustment
from tests import factories


@pytest.fixture
def rival(db):
    return factories.OperatorFactory(id="rival", name="Rival")


@pytest.fixture
def world(currencies, operator, brand1, brand2, service_account, rival):
    """Two operators' catalogues: an operator-wide instance brand2 takes part in, an instance of
    brand1's own, groups, players, a withheld win and a webhook delivery."""
    rival_brand = factories.BrandFactory(operator=rival, code="rivalbrand")
    factories.ServiceAccountFactory(operator=rival, username="rival-service")
    BrandCurrencyMultiplier.objects.create(brand=brand1, currency_id="GBP", multiplier=D("0.9"))
    pot = factories.hit_rate_pot
    wide = factories.make_instance(operator=operator, name="Operator-wide", allowed_brands=[brand2],
                                   withhold_limit=D("100"), pots=[pot("main", share="1", seed="50", magic=10**9)])
    own = factories.make_instance(operator=operator, brand=brand1, name="Brand1 own",
                                  pots=[pot("main", share="1", seed="50", magic=10**9)])
    factories.make_instance(operator=rival, name="Rival jackpot", pots=[pot("main", share="1", magic=10**9)])
    wide_group = factories.GameGroupFactory(operator=operator, name="Operator games")
    factories.GameFactory(group=wide_group, game_code="wide-game")
    factories.GameFactory(group=factories.GameGroupFactory(operator=rival, name="Rival games"))
    wins = {}
    for brand in (brand1, brand2, rival_brand):
        player = Player.objects.create(brand=brand, player_id=f"{brand.code}-player", country="MT", currency="EUR")
        jackpot = wide if brand.operator_id == operator.pk else JackpotInstance.objects.get(name="Rival jackpot")
        OptIn.objects.create(player=player, jackpot=jackpot, opted_in=True)
        contribution = Contribution.objects.create(
            brand=brand, player=player, player_ref=player.player_id, gameround_id=f"{brand.code}-round",
            target_kind="instance", target_id=str(jackpot.pk), jackpot=jackpot, player_country="MT",
            currency="EUR", base_wager=D("1"), amount=D("1"), amount_base=D("1"), processed_at=timezone.now(),
            callback_url="https://x", is_async=True)
        wins[brand.code] = Win.objects.create(
            jackpot=jackpot, pot=jackpot.pots.get(), player=player, generation=100 + player.pk, amount_base=D("500"),
            amount=D("500"), currency="EUR", withheld=True, status=Win.Status.WITHHELD, contribution=contribution)
        WebhookDelivery.objects.create(contribution=contribution, brand=brand, url="https://x", kind="data",
                                       payload="{}", status=WebhookDelivery.Status.FAILED)
    return {"wide": wide, "own": own, "wide_group": wide_group, "wins": wins}


def history_url(obj, record=None) -> str:
    opts = obj._meta
    if record is None:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[quote(obj.pk)])
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_simple_history", args=[quote(obj.pk), record.history_id])


def latest(obj):
    return obj.history.order_by("-history_id").first()


# --- 1. History pages ---------------------------------------------------------------------


def test_an_auditor_of_another_operator_can_neither_read_nor_post_a_brands_history(world, brand1, rival,
                                                                                   staff_client):
    auditor = staff_client("auditor", AUDITORS, operators=[rival])
    url = history_url(brand1, latest(brand1))

    assert auditor.get(history_url(brand1)).status_code == 404
    assert auditor.get(url).status_code == 404
    response = auditor.post(url, {"operator": rival.pk, "code": "brand1", "name": "moved", "enabled": "on"})

    assert response.status_code == 404
    brand = Brand.objects.get(pk=brand1.pk)
    assert (brand.operator_id, brand.name) == ("thrilltech", brand1.name)


def test_a_view_only_history_page_never_saves(world, operator, brand1, rival, staff_client):
    """In scope, an Auditor reads the History pages; a POST of the form is refused."""
    auditor = staff_client("auditor", AUDITORS, operators=[operator])
    gbp = Currency.objects.get(code="GBP")
    account = ServiceAccount.objects.get(username="integration")
    posts = [
        (brand1, {"operator": rival.pk, "code": "brand1", "name": "moved", "enabled": "on"}),
        (gbp, {"code": "GBP", "name": "Pound", "exponent": "2", "multiplier": "99"}),
        (operator, {"name": "Renamed", "enabled": "on"}),
        (account, {"operator": rival.pk, "username": "integration", "is_active": "on", "new_password": "owned"}),
    ]
    for obj, form in posts:
        url = history_url(obj, latest(obj))
        assert auditor.get(url).status_code == 200, url
        assert "Revert" not in auditor.get(url).content.decode()
        assert auditor.post(url, form).status_code == 403, url

    assert Brand.objects.get(pk=brand1.pk).operator_id == "thrilltech"
    assert Currency.objects.get(code="GBP").multiplier == gbp.multiplier
    assert Operator.objects.get(pk="thrilltech").name == "ThrillTech"
    assert ServiceAccount.objects.get(pk=account.pk).operator_id == "thrilltech"
    assert service_authenticate(username="integration", password="service-pass")  # password unchanged


def test_an_auditor_of_another_operator_cannot_change_a_service_account_through_history(world, rival,
                                                                                         staff_client):
    auditor = staff_client("auditor", AUDITORS, operators=[rival])
    account = ServiceAccount.objects.get(username="integration")

    response = auditor.post(history_url(account, latest(account)), {
        "operator": rival.pk, "username": "integration", "is_active": "on", "new_password": "owned"})

    assert response.status_code == 404
    assert ServiceAccount.objects.get(pk=account.pk).operator_id == "thrilltech"
    assert service_authenticate(username="integration", password="service-pass")


def test_revert_is_off_even_for_superusers(world, staff_client):
    root = staff_client("root", None)
    group = world["wide_group"]

    response = root.post(history_url(group, latest(group)), {
        "name": "Reverted", "operator": "thrilltech", "brand": "", "source": group.source_id})

    assert response.status_code == 403
    assert GameGroup.objects.get(pk=group.pk).name == "Operator games"


def test_a_deliberately_enabled_revert_still_needs_change_permission_in_scope(world, operator, rival, brand1,
                                                                            staff_client, settings):
    settings.SIMPLE_HISTORY_REVERT_DISABLED = False
    group = world["wide_group"]
    old = latest(group)
    GameGroup.objects.filter(pk=group.pk).update(name="Renamed")
    form = {"name": "Operator games", "operator": "thrilltech", "brand": "", "source": group.source_id}

    assert staff_client("auditor", AUDITORS, operators=[operator]).post(history_url(group, old), form).status_code == 403
    assert staff_client("b1", GAME_MAPPING_ADMINS, brands=[brand1]).post(
        history_url(group, old), form).status_code == 403  # sees the operator-wide group, may not change it
    assert staff_client("rival", GAME_MAPPING_ADMINS, operators=[rival]).post(
        history_url(group, old), form).status_code == 404
    assert GameGroup.objects.get(pk=group.pk).name == "Renamed"

    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])
    assert mapper.post(history_url(group, old), form).status_code == 302
    assert GameGroup.objects.get(pk=group.pk).name == "Operator games"


def history_admins():
    return [model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, SimpleHistoryAdmin)]


def test_every_history_page_answers_like_the_change_page_and_no_history_form_saves(world, rival, staff_client):
    """A crawl of every History page of every admin: an Auditor of the rival operator gets what
    the change page gives them (the object, or 404), and no POST is ever accepted."""
    auditor = staff_client("auditor", AUDITORS, operators=[rival])
    root = staff_client("root", None)
    crawled = set()
    for model in history_admins():
        opts = model._meta
        if not hasattr(opts, "simple_history_manager_attribute"):
            # Append-only ledgers have no field history: their History form URL is a 404, not a 500.
            obj = model.objects.first()
            if obj is not None:
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_simple_history", args=[quote(obj.pk), 1])
                assert root.get(url).status_code == 404, opts.label
            continue
        objects = list(model.objects.order_by("pk"))
        for obj in {objects[0], objects[-1]} if objects else ():  # the first and last: both operators' rows
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
            expected = 200 if auditor.get(change).status_code == 200 else 404
            record = latest(obj)
            assert auditor.get(history_url(obj)).status_code == expected, (opts.label, obj.pk)
            assert auditor.get(history_url(obj, record)).status_code == expected, (opts.label, obj.pk)
            assert auditor.post(history_url(obj, record), {}).status_code in (403, 404), (opts.label, obj.pk)
            assert root.post(history_url(obj, record), {}).status_code == 403, (opts.label, obj.pk)
            crawled.add(opts.label)
    assert {"portal.Operator", "portal.Brand", "portal.Currency", "portal.ServiceAccount", "sources.GameGroup",
            "sources.JackpotInstance", "sources.Pot", "players.OptIn"} <= crawled


def test_the_user_admin_keeps_its_own_history_only():
    """Users and groups have no field history to revert: Django's own admin, no History form."""
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label == "auth":
            assert not isinstance(model_admin, SimpleHistoryAdmin)


# --- 3. Admin actions ---------------------------------------------------------------------


def action(client, model: str, name: str, objects, **form):
    return client.post(f"/admin/{model}/", {"action": name, "_selected_action": [o.pk for o in objects],
                                            "apply": "yes", "reason": "brand ops at work", **form}, follow=True)


@pytest.mark.parametrize("verb", ["pause", "terminate"])
def test_brand_ops_cannot_change_the_state_of_an_operator_wide_instance(world, brand1, staff_client, verb):
    ops = staff_client("b1ops", OPS_STAFF, brands=[brand1])
    wide = world["wide"]

    response = action(ops, "sources/jackpotinstance", verb, [wide])

    assert JackpotInstance.objects.get(pk=wide.pk).state == JackpotInstance.State.ACTIVE
    assert response.status_code == 200
    assert "outside your scope" in response.content.decode()
    # The staff page answers the same change with a 404.
    assert ops.post(f"/jackpots/{wide.pk}/state", {"state": "Paused", "reason": "trying"}).status_code == 404


def test_brand_ops_action_on_a_mixed_selection_changes_only_their_own(world, brand1, staff_client):
    ops = staff_client("b1ops", OPS_STAFF, brands=[brand1])
    wide, own = world["wide"], world["own"]

    response = action(ops, "sources/jackpotinstance", "pause", [wide, own])

    assert JackpotInstance.objects.get(pk=wide.pk).state == JackpotInstance.State.ACTIVE
    assert JackpotInstance.objects.get(pk=own.pk).state == JackpotInstance.State.PAUSED
    assert "1 of the selected jackpot instances are outside your scope" in response.content.decode()


def test_brand_ops_cannot_resume_an_operator_wide_instance(world, brand1, staff_client):
    JackpotInstance.objects.filter(pk=world["wide"].pk).update(state=JackpotInstance.State.PAUSED)
    ops = staff_client("b1ops", OPS_STAFF, brands=[brand1])

    action(ops, "sources/jackpotinstance", "resume", [world["wide"]])

    assert JackpotInstance.objects.get(pk=world["wide"].pk).state == JackpotInstance.State.PAUSED


@pytest.mark.parametrize("verb", ["seed_boost", "adjust_value"])
def test_brand_ops_cannot_boost_or_adjust_pots_of_an_operator_wide_instance(world, brand1, staff_client, verb):
    ops = staff_client("b1ops", OPS_STAFF, brands=[brand1])
    pot = Pot.objects.get(jackpot=world["wide"])
    before = (pot.current_value, pot.seed_fund, PotAdjustment.objects.count())

    response = action(ops, "sources/pot", verb, [pot], amount="25")

    pot.refresh_from_db()
    assert (pot.current_value, pot.seed_fund, PotAdjustment.objects.count()) == before
    assert "outside your scope" in response.content.decode()


def test_operator_ops_still_act_on_operator_wide_instances(world, operator, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    pot = Pot.objects.get(jackpot=world["wide"])

    action(ops, "sources/jackpotinstance", "pause", [world["wide"]])
    action(ops, "sources/pot", "seed_boost", [pot], amount="25")

    assert JackpotInstance.objects.get(pk=world["wide"].pk).state == JackpotInstance.State.PAUSED
    assert Pot.objects.get(pk=pot.pk).seed_fund == D("25")


def test_brand_mapping_admin_cannot_delete_an_operator_wide_group(world, brand1, staff_client):
    mapper = staff_client("b1mapper", GAME_MAPPING_ADMINS, brands=[brand1])
    group = world["wide_group"]

    response = mapper.post("/admin/sources/gamegroup/", {"action": "delete_selected", "_selected_action": [group.pk],
                                                         "post": "yes"}, follow=True)

    assert GameGroup.objects.filter(pk=group.pk).exists()
    assert "outside your scope" in response.content.decode()  # before: a bare 403 page


def test_brand_ops_decide_only_their_brands_wins(world, brand1, staff_client):
    ops = staff_client("b1ops", OPS_STAFF, brands=[brand1])
    wins = world["wins"]

    action(ops, "contributions/win", "reject", [wins["brand1"], wins["brand2"], wins["rivalbrand"]])

    assert Win.objects.get(pk=wins["brand1"].pk).status == Win.Status.REJECTED
    assert Win.objects.get(pk=wins["brand2"].pk).status == Win.Status.WITHHELD
    assert Win.objects.get(pk=wins["rivalbrand"].pk).status == Win.Status.WITHHELD


# --- 13. Roles after migrate --------------------------------------------------------------


def test_a_migrated_database_gives_the_roles_all_their_permissions(db):
    """The test database is built by `migrate`: no fixture syncs the roles here."""
    from django.contrib.auth.models import Permission

    for name, wanted in ROLES.items():
        have = set(Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename"))
        expected = set()
        for entry in wanted:
            if entry == VIEW_ALL:
                expected |= set(Permission.objects.filter(content_type__app_label__in=PROJECT_APPS,
                                                          codename__startswith="view_")
                                .values_list("content_type__app_label", "codename"))
            else:
                expected.add(tuple(entry.split(".")))
        assert have == expected, name
    auditors = set(Group.objects.get(name=AUDITORS).permissions.values_list("codename", flat=True))
    assert {"view_walletconfig", "view_wallettransaction", "view_raffledraw"} <= auditors
