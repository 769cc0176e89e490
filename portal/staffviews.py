"""What every staff page shares: who may open it, what they may see, paging, refusals."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from portal.errors import DomainError
from portal.scoping import Scope, scope_for

PAGE_SIZE = 50


def _storable(params: QueryDict) -> QueryDict:
    pairs = [(key, value) for key, values in params.lists() for value in values]
    if not any("\x00" in key + value for key, value in pairs):
        return params
    kept = QueryDict(mutable=True)
    for key, value in pairs:
        if "\x00" not in key + value:
            kept.appendlist(key, value)
    return kept


def storable_params(request) -> None:
    """Drop query and form parameters holding a NUL: PostgreSQL can neither store nor compare
    text with one, so such a filter or reason would be a 500. The page shows as if the
    filter had not been given; a form misses the field and says so."""
    request.GET = _storable(request.GET)
    if request.method == "POST":
        request.POST = _storable(request.POST)


def staff_page(view):
    """Logged-in, active staff only; the view gets the user's scope as `scope`."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("The portal is for staff.")
        storable_params(request)
        return view(request, *args, scope=scope_for(request.user), **kwargs)

    return wrapper


def int_param(request, name: str) -> int | None:
    """A query parameter as a database id, or None when it is not one (`²`, `1e3`, 40 digits)."""
    value = request.GET.get(name, "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def next_url(request, default: str) -> str:
    """Where a form post goes back to: its `next` if that is a path on this site (never another
    host: no open redirect), else `default`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate.startswith("/") and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return default


def require(request, permission: str) -> None:
    """Refuse (403) a change the user's role does not allow."""
    if not request.user.has_perm(permission):
        raise PermissionDenied("Your role does not allow this change.")


def paginate(request, queryset, size: int = PAGE_SIZE):
    """A page, with `numbers`: the page numbers to link (1 … 4 5 [6] 7 8 … 35)."""
    page = Paginator(queryset, size).get_page(request.GET.get("page"))
    page.numbers = list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))
    return page


def run_service(request, call, *, success: str, back: str):
    """Run a service for a form post: its domain errors become a message, never a 500."""
    try:
        call()
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return redirect(back)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value) -> str:
    """A text cell a spreadsheet will not run: one starting like a formula gets a leading
    single quote (OWASP CSV injection). Numbers we format ourselves stay numbers: pass them as
    they are, not through here."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# A jackpot's pots as every page lists them: the highest tier (the biggest prize) first.
POT_ORDER = ("-tier", "pot_id")


def querystring_without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


__all__ = ["Scope", "int_param", "next_url", "paginate", "POT_ORDER", "querystring_without_page", "require", "run_service",
           "spreadsheet_text", "staff_page"]
