import time
from tests.portal import test_admin_fuzz as t
from tests.portal.test_admin_fuzz import world  # noqa
from portal.roles import AUDITORS
from django.contrib import admin
from django.urls import reverse

def test_prof(world, operator, staff_client):
    for who, c in (("root", staff_client("root", None)), ("aud", staff_client("auditor", AUDITORS, operators=[operator]))):
        request = type("Request", (), {"user": c.user})()
        for model, ma in admin.site._registry.items():
            if not ma.has_view_or_change_permission(request):
                continue
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            qs = t.hostile_queries(ma, request)
            s = time.perf_counter()
            for q in qs[:20]:
                c.get(url, q)
            print(who, url, len(qs), round((time.perf_counter() - s) / 20 * 1000, 1), "ms")
