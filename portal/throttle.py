"""Login throttling with django-axes on the three login surfaces.

Staff portal and admin logins go through Django's `authenticate()`, which axes guards by itself
(AxesStandaloneBackend refuses a locked-out client, its signal handlers count failures,
AxesMiddleware turns a lockout into the `portal/locked_out.html` page with status 429).

The service login (`POST /authenticate/service`) checks a ServiceAccount, not a Django user, so
`service_login_guard` asks axes the same questions around it: is this client locked out, record
a failure, forget the failures on success. Its attempts are stored as "service:<username>", so
they never mix with a staff user's, and show in the same admin list (Axes > Access attempts).
"""

from contextlib import contextmanager
from datetime import timedelta

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.signals import user_login_failed

from portal.errors import DomainError

SERVICE_PREFIX = "service:"


def lockout_parameters(request_or_attempt, credentials=None) -> list:
    """What failures are counted together (AXES_LOCKOUT_PARAMETERS).

    Staff: one username from one address -- an attacker elsewhere cannot lock a user out.
    Service: also the address alone -- operators' backends call from their own addresses, and one
    address must not try password after password across service usernames. Never the username
    alone: anyone could then lock an operator's integration out of the gateway.
    """
    username = (credentials or {}).get("username") or getattr(request_or_attempt, "username", None) or ""
    if username.startswith(SERVICE_PREFIX):
        return [["username", "ip_address"], "ip_address"]
    return [["username", "ip_address"]]


def _rate_limited(request) -> DomainError:
    # The answer is this JSON error; AxesMiddleware must not swap it for the HTML lockout page.
    request.axes_locked_out = False
    minutes = max(1, round((get_cool_off(request) or timedelta(0)).total_seconds() / 60))
    return DomainError("RATE_LIMITED", f"Too many failed logins from this address; try again in {minutes} minutes")


@contextmanager
def service_login_guard(request, username: str):
    """Wraps the service password check: refuses a locked-out client before it (429 RATE_LIMITED,
    the right password included), counts an UNAUTHORIZED answer, resets on success."""
    # A NUL byte or an over-long name is no account's name; keep it storable as a key.
    credentials = {"username": SERVICE_PREFIX + username[:150].replace("\x00", "\ufffd")}
    if not AxesProxyHandler.is_allowed(request, credentials):
        # As AxesStandaloneBackend does: the refused attempt counts (restarting the cool-off)
        # unless AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off.
        if not settings.AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT:
            request.axes_locked_out = True
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        raise _rate_limited(request)
    try:
        yield
    except DomainError as exc:
        if exc.code == "UNAUTHORIZED":
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            if request.axes_locked_out:  # this failure reached the limit
                raise _rate_limited(request) from exc
        raise
    if settings.AXES_RESET_ON_SUCCESS:
        AxesProxyHandler.reset_attempts(ip_address=request.axes_ip_address, username=credentials["username"])
