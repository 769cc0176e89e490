"""Public pages of the catalogue: a jackpot's rules (UKGC RTS 9A), for anyone, no login."""

from datetime import UTC, datetime

from django.http import Http404
from django.shortcuts import render
from django.utils.cache import patch_cache_control

from portal import jsonutil
from portal.errors import DomainError
from sources import services
from sources.models import JackpotInstance
from sources.selectors import public_instance, rules_version, rules_versions


def _moment(epoch_ms: int | None, instance: JackpotInstance) -> str:
    """On the instance's wall clock, as its schedule is written."""
    if epoch_ms is None:
        return ""
    return f"{datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).astimezone(instance.zone):%Y-%m-%d %H:%M}"


def rules_page(request, instance_id):
    """The current rules of an announced jackpot, or an earlier version (`?version=`), with the
    list of every version and the same document as JSON."""
    try:
        instance = public_instance(str(instance_id), JackpotInstance.objects.all())
        current, _ = services.rules_publish(instance=instance)
        asked = request.GET.get("version", "").strip()
        if asked and not asked.isdigit():
            raise Http404("A rules version is a whole number, such as 2")
        shown = rules_version(instance, int(asked)) if asked and int(asked) != current.version else current
    except DomainError as error:
        raise Http404(error.message) from error
    rules = jsonutil.loads(shown.document)
    eligibility = rules["eligibility"]
    response = render(request, "sources/rules.html", {
        "instance": instance, "rules": rules, "shown": shown, "current": current,
        "versions": rules_versions(instance),
        "starts": _moment(eligibility["timestamp_start"], instance),
        "ends": _moment(eligibility["timestamp_end"], instance),
        "json_url": f"/v1/thrillpots/instances/{instance.pk}/rules?version={shown.version}",
    })
    patch_cache_control(response, public=True, max_age=60)
    return response
