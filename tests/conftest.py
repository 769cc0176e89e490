import itertools
from decimal import Decimal

import pytest
from django.test import Client

from portal import jsonutil
from portal.auth import service_authenticate
from tests import factories
from tests.asgi import InProcessClient

# Every message a socket sends during the session is checked against the AsyncAPI document.
pytest_plugins = ["tests.asyncapi_contract"]

_rounds = itertools.count(1)


@pytest.fixture
def currencies(db):
    return factories.currencies()


@pytest.fixture
def operator(db):
    return factories.OperatorFactory(id="thrilltech", name="ThrillTech")


@pytest.fixture
def brand1(operator):
    """Records side bets without a wallet unless a test gives it one (see `wallet`)."""
    return factories.BrandFactory(operator=operator, code="brand1", side_bets_without_wallet=True)


@pytest.fixture
def brand2(operator):
    return factories.BrandFactory(operator=operator, code="brand2")


@pytest.fixture
def service_account(operator):
    return factories.ServiceAccountFactory(operator=operator, username="integration")


@pytest.fixture
def service_token(service_account):
    return service_authenticate(username="integration", password="service-pass")


class Gateway:
    """The gateway as an operator's backend sees it: JSON over HTTP with a bearer token, through
    the production ASGI application (`tests.asgi.InProcessClient`). `client` is Django's test
    client, for the few tests that want its own features."""

    def __init__(self, client: Client, token: str | None):
        self.client = client
        self.asgi = InProcessClient()
        self.token = token

    def headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def post(self, path: str, body, **extra):
        data = body if isinstance(body, bytes | str) else jsonutil.dumps(body)
        data = data.encode() if isinstance(data, str) else data
        return self.asgi.request("POST", path, data, **{**self.headers(), **extra})

    def get(self, path: str, **params):
        return self.asgi.request("GET", path, query=params, **self.headers())

    def contribute(self, body, path: str = "/jackpots/contribute"):
        return self.post(path, body)


@pytest.fixture
def gateway(service_token):
    return Gateway(Client(), service_token)


def body_of(response) -> dict:
    return jsonutil.loads(response.content)


@pytest.fixture
def contribution():
    """A seed-shaped contribution body; every call gets a fresh gameround."""

    def build(**fields):
        body = {
            "token": "token_00001",
            "brand_id": "thrilltech:brand1",
            "player_id": "player_00001",
            "player_country": "MT",
            "gameround_id": f"round-{next(_rounds)}",
            "currency": "EUR",
            "base_wager": Decimal("1"),
        }
        body.update(fields)
        return {k: v for k, v in body.items() if v is not ...}

    return build


def pytest_runtest_setup(item):
    """`@pytest.mark.services`: the test needs Redis and real Celery processes; the embedded leg
    of `make test` (REDIS_URL empty) skips it."""
    from django.conf import settings

    if item.get_closest_marker("services") and settings.RUNTIME != "services":
        pytest.skip("needs the services runtime (Redis, Celery processes)")


@pytest.fixture
def embedded_runtime(settings):
    """`make run`'s runtime in this process (portal/runtime.py): tasks and periodic jobs on the
    in-process scheduler (not eager), live events over the in-memory channel layer. Stopped
    afterwards."""
    from portal import runtime

    settings.RUNTIME = runtime.EMBEDDED
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    yield
    runtime.stop()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Caches live in Redis during tests (in this process in the embedded leg); each test starts
    from an empty one."""
    from django.core.cache import cache

    from portal import live
    from portal.cache import clear_all

    cache.clear()
    clear_all()  # and each process's catalogue cache
    live.local_marks_clear()  # and the embedded mode's live-event marks
    yield


@pytest.fixture
def roles(db):
    """The role groups. Created by a migration, but transactional tests flush every table,
    so sync them again (idempotent)."""
    from django.apps import apps

    from portal.roles import roles_sync

    roles_sync(apps)


@pytest.fixture
def staff_client(roles):
    """A logged-in staff user with a role, scoped to the given operators/brands (or everything)."""
    from django.contrib.auth.models import Group, User

    from portal.models import StaffScope

    def make(username: str, role: str | None, *, operators=(), brands=(), everything=False) -> Client:
        user = User.objects.create_user(username, password="pw", is_staff=True, is_superuser=role is None)
        if role:
            user.groups.add(Group.objects.get(name=role))
        scope = StaffScope.objects.create(user=user, all_operators=everything)
        scope.operators.set(operators)
        scope.brands.set(brands)
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


@pytest.fixture
def wallet(brand1, settings):
    """brand1's wallet: the reference Standard Wallet on loopback (players created on first use)."""
    from contributions.models import WalletConfig
    from demo.reference_wallet import WalletServer

    settings.WALLET_RETRY_BASE_SECONDS = 0.01
    with WalletServer(secret="test-wallet-secret", auto_create_balance=Decimal("1000000")) as server:
        server.config = WalletConfig.objects.create(brand=brand1, base_url=server.url, secret_key="test-wallet-secret",
                                                    timeout_seconds=2)
        yield server
