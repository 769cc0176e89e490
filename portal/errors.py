"""One domain error type with a stable code, raised by services.

It becomes the spec's error body in one place for HTTP (`portal.api`, and the contribution
gateway's own ASGI answer in `contributions.gateway`) and one place for WebSocket
(`players.consumers`).
"""

import logging

logger = logging.getLogger("portal.api")


class DomainError(Exception):
    def __init__(self, code: str, message: str = "", *, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message or code
        self.status = status

    def as_body(self) -> dict:
        return {"status_code": self.status, "code": self.code, "message": self.message}


def invalid_structure(message: str) -> DomainError:
    return DomainError("INVALID_STRUCTURE", message, status=400)


def invalid_value(message: str) -> DomainError:
    return DomainError("INVALID_PROPERTY_VALUE", message, status=400)


def rejected(rule: str, detail: str = "") -> DomainError:
    """A contribution rule failed; the message starts with the rule's name."""
    return DomainError("CONTRIBUTION_REJECTED", f"{rule}: {detail}" if detail else rule, status=400)


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
    return DomainError("INVALID_CONFIGURATION", "; ".join(validation_messages(error)) or "Invalid configuration",
                       status=400)
