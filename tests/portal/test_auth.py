"""Service accounts and tokens (SPEC 2.1)."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from portal import jsonutil
from portal.models import ServiceAccount
from tests import factories
from tests.conftest import body_of


def authenticate(username: str, password: str):
    return Client().post("/authenticate/service", jsonutil.dumps({"username": username, "password": password}),
                         content_type="application/json")


def test_service_account_gets_a_token_that_works(service_account):
    response = authenticate("integration", "service-pass")

    assert response.status_code == 200
    token = body_of(response)["token"]
    assert Client().get("/v1/currencies", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


@pytest.mark.parametrize(("username", "password"), [("integration", "wrong"), ("nobody", "service-pass")])
def test_wrong_credentials_are_unauthorized(service_account, username, password):
    response = authenticate(username, password)
    assert (response.status_code, body_of(response)["code"]) == (401, "UNAUTHORIZED")


def test_malformed_credentials_are_a_structure_error(db):
    response = Client().post("/authenticate/service", b"{", content_type="application/json")
    assert (response.status_code, body_of(response)["code"]) == (400, "INVALID_STRUCTURE")


def test_disabled_account_is_locked_out_even_with_a_live_token(gateway, service_account):
    assert gateway.get("/v1/currencies").status_code == 200
    service_account.is_active = False
    service_account.save()  # the saving process forgets the account's cached mark at once

    response = gateway.get("/v1/currencies")
    assert (response.status_code, body_of(response)["code"]) == (401, "UNAUTHORIZED")


def test_an_account_disabled_by_another_process_is_locked_out_once_the_short_cache_expires(
        gateway, service_account):
    from portal.cache import clear_all

    assert gateway.get("/v1/currencies").status_code == 200
    ServiceAccount.objects.filter(pk=service_account.pk).update(is_active=False)  # no signal here

    clear_all()  # what the cache's expiry does (at most 10 s later)
    response = gateway.get("/v1/currencies")
    assert (response.status_code, body_of(response)["code"]) == (401, "UNAUTHORIZED")


def test_create_service_account_command(operator, capsys):
    call_command("create_service_account", "--operator", "thrilltech", "--username", "backend", "--password", "s3cret!")
    call_command("create_service_account", "--operator", "thrilltech", "--username", "backend", "--password", "n3w!")

    assert "Updated the password of service account backend" in capsys.readouterr().out
    assert authenticate("backend", "n3w!").status_code == 200
    assert authenticate("backend", "s3cret!").status_code == 401


def test_create_service_account_refuses_unknown_operator_or_a_foreign_username(operator):
    factories.ServiceAccountFactory(operator=factories.OperatorFactory(id="rival"), username="taken")
    with pytest.raises(CommandError, match="No operator"):
        call_command("create_service_account", "--operator", "ghost", "--username", "x", "--password", "y")
    with pytest.raises(CommandError, match="belongs to operator rival"):
        call_command("create_service_account", "--operator", "thrilltech", "--username", "taken", "--password", "y")
