"""Refusals are normal traffic (issue 13 item 17): one INFO line with their code, never a
WARNING; a 500 is still an ERROR. And the portal has a favicon."""

import logging
from contextlib import contextmanager
from decimal import Decimal as D

import pytest
import requests

from contributions.services import engine
from portal import jsonutil
from portal.logs import ContextFilter
from sources.models import JackpotInstance
from tests import factories
from tests.asgi import AsgiServer


@contextmanager
def logged(caplog):
    """Every record, Django's own included (the `django` logger does not propagate to the
    root, where caplog listens), with the log context (trace id, operator, brand) as the
    console handler adds it. Entered in the test itself (caplog's handler is per phase), and
    on the root again: the server's first start runs django.setup(), which resets the root's
    handlers to the LOGGING setting's."""
    loggers = [logger for logger in (logging.getLogger(), logging.getLogger("django"))
               if caplog.handler not in logger.handlers]
    caplog.handler.addFilter(ContextFilter())
    for logger in loggers:
        logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO):
            yield caplog
    finally:
        for logger in loggers:
            logger.removeHandler(caplog.handler)


@pytest.mark.django_db(transaction=True)
def test_a_refused_contribution_is_one_info_line_with_its_code_and_a_500_is_an_error(
        caplog, currencies, operator, brand1, service_token, contribution, monkeypatch):
    instance = factories.make_instance(operator=operator, opt_in_required=True,
                                       contribution_type=JackpotInstance.ContributionType.FIXED,
                                       contribution_value=D("0.10"),
                                       pots=[factories.hit_rate_pot("main", share="0.5", magic=10**9)])
    headers = {"Authorization": f"Bearer {service_token}", "Content-Type": "application/json"}
    with AsgiServer() as server, logged(caplog):  # the gateway's own handler, as in production
        def contribute():
            return requests.post(f"{server.http}/jackpots/contribute", headers=headers, timeout=10,
                                 data=jsonutil.dumps(contribution(instance_id=str(instance.pk))))

        caplog.clear()
        refused = contribute()
        refusal_records = list(caplog.records)

        monkeypatch.setattr(engine, "contribution_plan", lambda **kw: 1 / 0)
        caplog.clear()
        failed = contribute()
        failure_records = list(caplog.records)

    assert (refused.status_code, refused.json()["code"]) == (400, "CONTRIBUTION_REJECTED")
    assert [r for r in refusal_records if r.levelno >= logging.WARNING] == []
    [line] = [r for r in refusal_records if "CONTRIBUTION_REJECTED" in r.getMessage()]
    assert line.levelno == logging.INFO
    assert "400" in line.getMessage() and "OptInRequired" in line.getMessage()
    assert (line.operator, line.brand) == ("thrilltech", "thrilltech:brand1")

    assert (failed.status_code, failed.json()["code"]) == (500, "SYSTEM_ERROR")
    assert any(r.levelno >= logging.ERROR for r in failure_records)


@pytest.mark.django_db
def test_an_api_refusal_is_one_line_with_its_code_not_djangos_too(caplog, service_account):
    from tests.asgi import InProcessClient

    with logged(caplog):
        refused = InProcessClient().request("POST", "/authenticate/service",
                                            jsonutil.dumps({"username": "integration", "password": "nope"}).encode())

    assert refused.status_code == 401
    [line] = [r for r in caplog.records if "UNAUTHORIZED" in r.getMessage()]
    assert line.levelno == logging.INFO and line.getMessage().startswith("refused 401 UNAUTHORIZED")
    assert [r.getMessage() for r in caplog.records if r.name == "django.request"] == []


def test_a_client_error_outside_the_api_is_info(caplog, client):
    with logged(caplog):
        assert client.get("/no-such-page/").status_code == 404

    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.INFO and "Not Found" in record.getMessage()


def test_favicon(client, staff_client):
    icon = client.get("/favicon.ico")
    served = client.get(icon.headers["Location"])
    page = staff_client("ops", None, everything=True).get("/").content.decode()

    assert icon.status_code == 302
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(served.streaming_content if served.streaming else [served.content])
    assert f'<link rel="icon" type="image/svg+xml" href="{icon.headers["Location"]}">' in page
