"""What every staff page shares: who may open it, what they may see, paging, refusals."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect

from portal.errors import DomainError
from portal.scoping import Scope, scope_for

PAGE_SIZE = 50


def staff_page(view):
    """Logged-in, active staff only; the view gets the user's scope as `scope`."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("The portal is for staff.")
        return view(request, *args, scope=scope_for(request.user), **kwargs)

    return wrapper


def require(request, permission: str) -> None:
    """Refuse (403) a change the user's role does not allow."""
    if not request.user.has_perm(permission):
        raise PermissionDenied("Your role does not allow this change.")


def paginate(request, queryset, size: int = PAGE_SIZE):
    return Paginator(queryset, size).get_page(request.GET.get("page"))


def run_service(request, call, *, success: str, back: str):
    """Run a service for a form post: its domain errors become a message, never a 500."""
    try:
        call()
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return redirect(back)


def querystring_without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


__all__ = ["Scope", "paginate", "querystring_without_page", "require", "run_service", "staff_page"]
