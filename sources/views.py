"""Pages of the catalogue: a jackpot's rules (UKGC RTS 9A), for anyone, no login; and the
staff's jackpot list with the state and pot-money actions (a jackpot's own page, with its
ledger, is `contributions/views.py`'s)."""

from datetime import UTC, datetime

from django import forms
from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_POST

from portal import jsonutil
from portal.errors import DomainError
from portal.staffviews import (
    POT_ORDER,
    paginate,
    querystring_without_page,
    require,
    run_service,
    staff_page,
)
from sources import services
from sources.models import AdjustmentRequest, JackpotInstance, Pot
from sources.selectors import public_instance, rules_version, rules_versions, visible_instances


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


# --- staff: jackpots ----------------------------------------------------------------------


@staff_page
def instance_list(request, scope):
    instances = visible_instances(scope).select_related("currency", "operator", "brand").prefetch_related(
        Prefetch("pots", Pot.objects.order_by(*POT_ORDER)))
    state = request.GET.get("state", "")
    if state in JackpotInstance.State.values:
        instances = instances.filter(state=state)
    kind = request.GET.get("type", "")
    if kind in JackpotInstance.Type.values:
        instances = instances.filter(jackpot_type=kind)
    if q := request.GET.get("q", "").strip():
        instances = instances.filter(name__icontains=q)
    return render(request, "sources/instance_list.html", {
        "page": paginate(request, instances.order_by("name")), "states": JackpotInstance.State.values,
        "types": JackpotInstance.Type.values, "filters": request.GET, "query": querystring_without_page(request),
    })


class StateForm(forms.Form):
    state = forms.ChoiceField(choices=[(s, s) for s in JackpotInstance.State.values])
    reason = forms.CharField(min_length=3, max_length=500)


class PotMoneyForm(forms.Form):
    pot = forms.IntegerField()
    kind = forms.ChoiceField(choices=[("boost", "Seed boost"), ("adjust", "Adjust value")])
    amount = forms.DecimalField(max_digits=28, decimal_places=8)
    reason = forms.CharField(min_length=3, max_length=500)


def _instance_to_change(request, scope, instance_id, permission: str) -> JackpotInstance:
    """An instance the staff member sees, may act on with `permission`, and whose operator they
    own (brand-scoped staff see an instance but do not change it): 404/403 otherwise."""
    instance = get_object_or_404(visible_instances(scope), pk=instance_id)
    require(request, permission)
    if not scope.owns_operator(instance.operator_id):
        raise Http404
    return instance


@require_POST
@staff_page
def instance_state(request, scope, instance_id):
    instance = _instance_to_change(request, scope, instance_id, "sources.change_instance_state")
    form = StateForm(request.POST)
    back = reverse("portal:instance", args=[instance.pk])
    if not form.is_valid():
        messages.error(request, "Choose a state and give a reason (at least 3 characters).")
        return redirect(back)
    return run_service(request, lambda: services.instance_set_state(
        instance=instance, state=form.cleaned_data["state"], actor=request.user, reason=form.cleaned_data["reason"]),
        success=f"{instance.name} is now {form.cleaned_data['state']}.", back=back)


@require_POST
@staff_page
def instance_pot_money(request, scope, instance_id):
    instance = _instance_to_change(request, scope, instance_id, "sources.adjust_pot")
    form = PotMoneyForm(request.POST)
    back = reverse("portal:instance", args=[instance.pk])
    if not form.is_valid():
        messages.error(request, "Give an amount and a reason (at least 3 characters).")
        return redirect(back)
    pot = get_object_or_404(Pot, pk=form.cleaned_data["pot"], jackpot=instance)
    data = form.cleaned_data
    if data["kind"] == "boost":
        call = lambda: services.pot_boost(pot=pot, amount=data["amount"], actor=request.user, reason=data["reason"])  # noqa: E731
        done = f"Seed fund of {pot.pot_id} boosted by {data['amount']}."
    else:
        try:
            done = services.pot_adjust(pot=pot, delta=data["amount"], actor=request.user, reason=data["reason"])
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, (
                f"The decrease of {pot.pot_id} by {-done.value_delta} waits for a second person's approval "
                f"(request #{done.pk})." if isinstance(done, AdjustmentRequest)
                else f"Value of {pot.pot_id} adjusted by {data['amount']}."))
        return redirect(back)
    return run_service(request, call, success=done, back=back)
