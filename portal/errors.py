"""One domain error type with a stable code, raised by services, and the one table of codes.

`STATUS` maps every code to its HTTP status (SPEC 2.7 for the gateway's codes; the rest are
the portal's own), so a code answers the same status on every surface; `DomainError(code,
message)` takes its status from there. A WebSocket `Error` carries the code alone (SPEC 3;
`players.asyncapi.ERROR_CODES` documents which of these a socket may send). Only an error
relayed from another system keeps that system's status (`RelayedError`: the wallet's errors,
SPEC 2.4).

It becomes the spec's error body in one place for HTTP (`portal.http.error_response`, and the
contribution gateway's own ASGI answer in `contributions.gateway`) and one place for WebSocket
(`players.consumers`).
"""

import logging

logger = logging.getLogger("portal.api")

STATUS: dict[str, int] = {
    # SPEC 2.7: the gateway's codes.
    "INVALID_STRUCTURE": 400,
    "INVALID_PROPERTY_VALUE": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "CONTRIBUTION_REJECTED": 400,
    "GAME_NOT_FOUND": 404,
    "INSTANCE_NOT_FOUND": 404,
    "SOURCE_JACKPOT_NOT_FOUND": 404,
    "SOURCE_JACKPOTS_NOT_ALLOWED": 403,
    "CURRENCY_MULTIPLIERS_NOT_FOUND": 404,
    "UNSUPPORTED_BRAND": 400,
    "OPTIN_ERROR": 500,
    "DB_ERROR": 500,
    "SYSTEM_ERROR": 500,
    "DUPLICATE_GAMEROUND": 409,
    # The wallet in front of a contribution (SPEC 4): too busy or unreachable now (retry), or
    # a Debit cancelled under a contribution waiting for it (send it again).
    "WALLET_UNAVAILABLE": 503,
    "WALLET_DEBIT_CANCELLED": 409,
    # Requests: too many (public reads per address, failed logins, socket frames), a path or
    # object that does not exist.
    "RATE_LIMITED": 429,
    "NOT_FOUND": 404,
    # The WebSocket API's own (SPEC 3; a socket sends the code alone).
    "UNKNOWN_REQUEST": 400,
    "CONTRIBUTION_VALUE_OUT_OF_RANGE": 400,
    "INSTANCE_NOT_ACTIVE": 400,
    # The configuration API and the catalogue's reads (404: no such object of this operator).
    "BRAND_NOT_FOUND": 404,
    "SOURCE_NOT_FOUND": 404,
    "GAME_GROUP_NOT_FOUND": 404,
    "TEMPLATE_NOT_FOUND": 404,
    "TEMPLATE_VERSION_NOT_FOUND": 404,
    "POT_NOT_FOUND": 404,
    "RULES_VERSION_NOT_FOUND": 404,
    "INVALID_CONFIGURATION": 400,
    # Staff operations (admin, staff pages, configuration API): a refused input ...
    "REASON_REQUIRED": 400,
    "REFERENCE_REQUIRED": 400,
    "TARGET_REQUIRED": 400,
    "INVALID_AMOUNT": 400,
    "INVALID_TARGET": 400,
    "INVALID_DISPOSITION": 400,
    "BELOW_RESET_VALUE": 400,
    "FOUR_EYES": 403,
    # ... or a state that does not allow it (yet).
    "INVALID_STATE_CHANGE": 400,
    "INSTANCE_RETIRING": 400,
    "INSTANCE_TERMINATED": 400,
    "END_TIME_SET": 400,
    "POT_IN_USE": 400,
    "NOT_PENDING": 400,
    "NOT_WITHHELD": 400,
    "STILL_PENDING": 400,
    "DELIVERY_IN_PROGRESS": 400,
    "ARCHIVE_REFUSED": 400,
    "DISPOSITION_REQUIRED": 409,
    "RETIREMENT_PENDING": 409,
    # Reports: a business day closes once, after the day before, when it is over.
    "DAY_NOT_OVER": 409,
    "DAY_CLOSED": 409,
    "PREVIOUS_DAY_OPEN": 409,
    "BEFORE_INSTANCE": 409,
}


class DomainError(Exception):
    """A refusal with a stable code; its HTTP status is the table's (an unknown code fails
    loudly here, and `tests/portal/test_errors.py` finds every code raised in the code base)."""

    def __init__(self, code: str, message: str = "") -> None:
        if code not in STATUS:
            raise ValueError(f"{code!r} is not in portal.errors.STATUS: add it with its HTTP status")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message or code
        self.status = STATUS[code]

    def __reduce__(self):  # copies and pickles (a task's result) are made from the code, not args
        return type(self), (self.code, self.message)

    def as_body(self) -> dict:
        return {"status_code": self.status, "code": self.code, "message": self.message}


class RelayedError(DomainError):
    """An error another system answered (the operator's wallet), passed on with its own code
    and status (SPEC 2.4: "a wallet failure is returned as the wallet's own status and code")."""

    def __init__(self, code: str, message: str, status: int) -> None:
        Exception.__init__(self, f"{code}: {message}")
        self.code = code
        self.message = message or code
        self.status = status

    def __reduce__(self):
        return type(self), (self.code, self.message, self.status)


def invalid_structure(message: str) -> DomainError:
    return DomainError("INVALID_STRUCTURE", message)


def invalid_value(message: str) -> DomainError:
    return DomainError("INVALID_PROPERTY_VALUE", message)


def rejected(rule: str, detail: str = "") -> DomainError:
    """A contribution rule failed; the message starts with the rule's name."""
    return DomainError("CONTRIBUTION_REJECTED", f"{rule}: {detail}" if detail else rule)


def refusal_log(error: DomainError) -> None:
    """A refusal (4xx) is normal traffic: one INFO line with its code (the log context adds the
    trace id, operator and brand). 5xx are logged as errors where they happen."""
    if error.status < 500:
        logger.info("refused %s %s: %s", error.status, error.code, error.message[:200])


def validation_messages(error) -> list[str]:
    """A Django `ValidationError` as lines a person reads: `field: message` (the admin shows the
    same message next to the field), or the message alone for the whole object."""
    if not hasattr(error, "error_dict"):
        return [str(message) for message in error]
    lines = []
    for field, errors in error.error_dict.items():
        for message in errors:
            for text in message:
                lines.append(text if field == "__all__" else f"{field}: {text}")
    return lines


def invalid_configuration(error) -> DomainError:
    """A configuration the admin would refuse, refused with the admin's words (configuration API)."""
    return DomainError("INVALID_CONFIGURATION", "; ".join(validation_messages(error)) or "Invalid configuration")
