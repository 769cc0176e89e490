"""One table of error codes and their HTTP statuses (`portal.errors.STATUS`): every code the
code base raises is in it, a code answers the same status on every surface, and the gateway's
codes answer what SPEC 2.7 says."""

import ast
import re
from decimal import Decimal as D
from pathlib import Path

import pytest

from players.asyncapi import ERROR_CODES
from portal.errors import STATUS, DomainError, RelayedError
from tests import factories
from tests.conftest import body_of

ROOT = Path(__file__).resolve().parents[2]
APPS = ("portal", "sources", "players", "contributions", "demo")
CODE = re.compile(r"^[A-Z][A-Z0-9_]*[A-Z0-9]$")

# SPEC 2.7, as written there.
SPEC_STATUSES = {
    "INVALID_STRUCTURE": 400, "INVALID_PROPERTY_VALUE": 400, "UNAUTHORIZED": 401, "FORBIDDEN": 403,
    "CONTRIBUTION_REJECTED": 400, "GAME_NOT_FOUND": 404, "INSTANCE_NOT_FOUND": 404, "SOURCE_JACKPOT_NOT_FOUND": 404,
    "SOURCE_JACKPOTS_NOT_ALLOWED": 403, "CURRENCY_MULTIPLIERS_NOT_FOUND": 404, "UNSUPPORTED_BRAND": 400,
    "OPTIN_ERROR": 500, "DB_ERROR": 500, "SYSTEM_ERROR": 500, "DUPLICATE_GAMEROUND": 409,
}


def sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text())


def callee(call: ast.Call) -> str | None:
    return getattr(call.func, "id", None) or getattr(call.func, "attr", None)


def constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and CODE.match(n.value)}


def raised_codes() -> tuple[dict[str, set[str]], set[str]]:
    """code -> where it is raised; and the calls whose code cannot be told from the source.
    A code is the first argument of `DomainError(...)` or of a function that passes its own
    parameter on as one: a literal, a conditional of literals, or a local variable assigned
    from literals (a dict of codes)."""
    parsed = list(sources())
    forwarders: dict[str, int] = {}  # function name -> index of its parameter that is a code
    for _, tree in parsed:
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            params = [a.arg for a in function.args.args]
            for call in ast.walk(function):
                if (isinstance(call, ast.Call) and callee(call) == "DomainError" and call.args
                        and isinstance(call.args[0], ast.Name) and call.args[0].id in params):
                    forwarders[function.name] = params.index(call.args[0].id)
    found: dict[str, set[str]] = {}
    unknown: set[str] = set()
    for path, tree in parsed:
        for function in [tree, *(f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef))]:
            params = [a.arg for a in function.args.args] if isinstance(function, ast.FunctionDef) else []
            for call in ast.walk(function):
                if not isinstance(call, ast.Call):
                    continue
                name = callee(call)
                index = 0 if name == "DomainError" else forwarders.get(name)
                if index is None or len(call.args) <= index:
                    continue
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                argument = call.args[index]
                if isinstance(argument, ast.Name):
                    if argument.id in params:
                        continue  # a forwarder: its callers name the code
                    values = [n.value for n in ast.walk(function) if isinstance(n, ast.Assign)
                              and any(isinstance(t, ast.Name) and t.id == argument.id for t in n.targets)]
                    codes = set().union(*(constants(v) for v in values)) if values else set()
                else:
                    codes = constants(argument)
                if not codes:
                    unknown.add(where)
                for code in codes:
                    found.setdefault(code, set()).add(where)
    return found, unknown


def test_every_code_raised_in_the_code_base_is_in_the_table():
    found, unknown = raised_codes()

    assert not unknown, f"codes the table cannot be checked against: {unknown}"
    assert len(found) > 40  # the scan sees the code base
    missing = {code: where for code, where in found.items() if code not in STATUS}
    assert not missing, f"add these codes to portal.errors.STATUS: {missing}"
    unused = set(STATUS) - set(found) - set(ERROR_CODES)
    assert not unused, f"codes in the table that nothing raises: {unused}"


def test_no_raise_repeats_a_status():
    """The status comes from the table; only an error relayed from another system brings its own."""
    repeated = [f"{path.relative_to(ROOT)}:{call.lineno}" for path, tree in sources() for call in ast.walk(tree)
                if isinstance(call, ast.Call) and callee(call) == "DomainError"
                and any(keyword.arg == "status" for keyword in call.keywords)]

    assert repeated == []
    with pytest.raises(TypeError):
        DomainError("INSTANCE_NOT_FOUND", "x", status=400)  # a status of its own is refused
    with pytest.raises(ValueError, match="not in portal.errors.STATUS"):
        DomainError("NO_SUCH_CODE", "x")


def test_the_gateway_codes_answer_what_the_spec_says_and_socket_codes_are_known():
    assert {code: STATUS[code] for code in SPEC_STATUSES} == SPEC_STATUSES
    assert set(ERROR_CODES) <= set(STATUS)
    assert DomainError("INSTANCE_NOT_FOUND").as_body() == {
        "status_code": 404, "code": "INSTANCE_NOT_FOUND", "message": "INSTANCE_NOT_FOUND"}
    relayed = RelayedError("INSUFFICIENT_FUNDS", "Balance too low", 402)  # a wallet's own answer (SPEC 2.4)
    assert relayed.as_body() == {"status_code": 402, "code": "INSUFFICIENT_FUNDS", "message": "Balance too low"}


@pytest.mark.django_db
def test_an_unknown_instance_is_a_404_on_every_surface(currencies, operator, brand1, gateway, contribution,
                                                       service_token, client):
    """The gateway, the public reads, the configuration API and the reports API: the same
    INSTANCE_NOT_FOUND, the same 404 (players/services once answered it as a 400)."""
    factories.ServiceAccountFactory(operator=operator, username="config-bot", can_configure=True)
    from portal.auth import service_authenticate

    config_token = service_authenticate(username="config-bot", password="service-pass")
    unknown = "00000000-0000-4000-8000-000000000000"
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {service_token}"}

    answers = {
        "gateway": gateway.contribute(contribution(instance_id=unknown, base_wager=D("1"))),
        "public read": gateway.get(f"/v1/thrillpots/instances/{unknown}"),
        "rules": client.get(f"/v1/thrillpots/instances/{unknown}/rules"),
        "configuration API": client.get(f"/v1/config/instances/{unknown}",
                                        HTTP_AUTHORIZATION=f"Bearer {config_token}"),
        "reports API": client.get(f"/api/reports/meters/{unknown}", **bearer),
    }

    seen = {surface: (answer.status_code, body_of(answer)["code"]) for surface, answer in answers.items()}
    assert seen == dict.fromkeys(answers, (404, "INSTANCE_NOT_FOUND"))
    assert {body_of(answer)["status_code"] for answer in answers.values()} == {404}
