"""Login throttling (issue 11 item 12) on the staff portal, the admin and the service login.

Each surface over HTTP: after AXES_FAILURE_LIMIT wrong passwords from one address, the right
password is refused until the cool-off has passed; another address is not affected. The clock
moves on by ageing the recorded attempts (no sleeping).
"""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F
from django.test import AsyncClient, Client

from portal import jsonutil
from tests import factories
from tests.conftest import body_of

ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


@pytest.fixture
def limit() -> int:
    assert settings.AXES_ENABLED, "the test settings must not turn the throttle off"
    return settings.AXES_FAILURE_LIMIT


def pass_cool_off():
    """The clock moves past the cool-off: every recorded failure becomes that much older."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))


def form_login(path: str, username: str, password: str, address: str, client: Client | None = None):
    client = client or Client(REMOTE_ADDR=address)
    return client.post(path, {"username": username, "password": password, "next": "/"}, REMOTE_ADDR=address)


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def assert_locked_out(response):
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert f"blocked for {int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)} minutes" in page
    assert "_auth_user_id" not in response.client.session


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_form_logins_lock_out_after_repeated_failures_even_with_the_right_password(db, limit, path):
    User.objects.create_superuser("alice", password="right-password")

    for attempt in range(1, limit):
        response = form_login(path, "alice", f"guess-{attempt}", ATTACKER)
        assert response.status_code == 200  # the login form again, with its error
    assert_locked_out(form_login(path, "alice", f"guess-{limit}", ATTACKER))

    assert_locked_out(form_login(path, "alice", "right-password", ATTACKER))
    # The same user from their own address is not locked out by the attacker.
    assert logged_in(form_login(path, "alice", "right-password", ELSEWHERE))

    pass_cool_off()
    assert logged_in(form_login(path, "alice", "right-password", ATTACKER))


def test_a_successful_staff_login_resets_the_count(db, limit):
    User.objects.create_user("bob", password="right-password", is_staff=True)
    for _ in range(limit - 1):
        assert form_login("/login/", "bob", "typo", ATTACKER).status_code == 200
    assert logged_in(form_login("/login/", "bob", "right-password", ATTACKER))

    for _ in range(limit - 1):
        assert form_login("/login/", "bob", "typo", ATTACKER).status_code == 200
    assert logged_in(form_login("/login/", "bob", "right-password", ATTACKER))


def test_the_lockout_page_is_served_by_the_asgi_stack_too(db, limit):
    """Under ASGI axes' middleware takes its async path; the page must be the same."""
    User.objects.create_user("carol", password="right-password", is_staff=True)
    client = AsyncClient(REMOTE_ADDR=ATTACKER)
    post = async_to_sync(client.post)
    for attempt in range(limit):
        response = post("/login/", {"username": "carol", "password": f"guess-{attempt}"})
    response = post("/login/", {"username": "carol", "password": "right-password"})

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()


def test_the_login_page_states_the_rule(db, limit):
    page = Client().get("/login/").content.decode()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"After {limit} failed attempts" in page and f"blocked for {minutes} minutes" in page


def test_superusers_see_lockouts_in_the_admin_and_other_roles_do_not(db, limit, staff_client):
    User.objects.create_user("dave", password="right-password", is_staff=True)
    for _ in range(limit):
        form_login("/login/", "dave", "guess", ATTACKER)

    admin = staff_client("root", None)
    page = admin.get("/admin/axes/accessattempt/").content.decode()
    assert "dave" in page and ATTACKER in page
    auditor = staff_client("audrey", "Auditors", everything=True)
    assert auditor.get("/admin/axes/accessattempt/").status_code == 403


def service_login(username: str, password: str, address: str):
    return Client().post("/authenticate/service", jsonutil.dumps({"username": username, "password": password}),
                         content_type="application/json", REMOTE_ADDR=address)


def assert_rate_limited(response):
    body = body_of(response)
    assert (response.status_code, body["status_code"], body["code"]) == (429, 429, "RATE_LIMITED")
    assert set(body) == {"status_code", "code", "message"} and "try again" in body["message"]


def test_service_login_is_rate_limited_after_repeated_failures(service_account, limit):
    rival = factories.ServiceAccountFactory(operator=factories.OperatorFactory(id="rival"), username="rival-backend")

    for attempt in range(1, limit):
        response = service_login("integration", f"guess-{attempt}", ATTACKER)
        assert (response.status_code, body_of(response)["code"]) == (401, "UNAUTHORIZED")
    assert_rate_limited(service_login("integration", f"guess-{limit}", ATTACKER))

    # The right password is refused too, and so is any other username from that address.
    assert_rate_limited(service_login("integration", "service-pass", ATTACKER))
    assert_rate_limited(service_login(rival.username, "service-pass", ATTACKER))
    # Another username from another address, and the operator's own backend from its address, work.
    assert service_login(rival.username, "service-pass", ELSEWHERE).status_code == 200
    assert service_login("integration", "service-pass", ELSEWHERE).status_code == 200

    pass_cool_off()
    assert service_login("integration", "service-pass", ATTACKER).status_code == 200


def test_service_login_attempts_are_kept_apart_from_staff_usernames(service_account, limit):
    User.objects.create_user("integration", password="staff-password", is_staff=True)
    for _ in range(limit):
        service_login("integration", "guess", ATTACKER)

    assert logged_in(form_login("/login/", "integration", "staff-password", ATTACKER))
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {"service:integration"}


def test_a_successful_service_login_resets_the_count(service_account, limit):
    for _ in range(limit - 1):
        assert service_login("integration", "typo", ATTACKER).status_code == 401
    assert service_login("integration", "service-pass", ATTACKER).status_code == 200
    for _ in range(limit - 1):
        assert service_login("integration", "typo", ATTACKER).status_code == 401
    assert service_login("integration", "service-pass", ATTACKER).status_code == 200


def test_an_over_long_service_username_is_counted_not_a_500(db, limit):
    for _ in range(limit - 1):
        assert service_login("y" * 300, "guess", ATTACKER).status_code == 401
    assert_rate_limited(service_login("y" * 300, "guess", ATTACKER))


@pytest.mark.django_db(transaction=True)
def test_the_throttle_holds_on_the_real_asgi_server(service_account, limit):
    """uvicorn: the service login (its own guard, portal/throttle.py) and the staff login
    (django-axes' middleware) both count failures and refuse the right password after them."""
    import requests

    from tests.asgi import AsgiServer

    User.objects.create_user("erin", password="right-password", is_staff=True)
    with AsgiServer() as server:
        def service(password):
            return requests.post(f"{server.http}/authenticate/service", timeout=10,
                                 data=jsonutil.dumps({"username": "integration", "password": password}))

        browser = requests.Session()
        browser.get(f"{server.http}/login/", timeout=10)  # the CSRF cookie

        def staff(password):
            form = {"username": "erin", "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
            return browser.post(f"{server.http}/login/", data=form, timeout=10, allow_redirects=False)

        codes = [service("guess").status_code for _ in range(limit)] + [staff("guess").status_code for _ in range(limit)]
        refused_service, refused_staff = service("service-pass"), staff("right-password")

    assert codes == [401] * (limit - 1) + [429] + [200] * (limit - 1) + [429]
    assert_rate_limited(refused_service)
    assert refused_staff.status_code == 429 and "Too many failed logins" in refused_staff.text
