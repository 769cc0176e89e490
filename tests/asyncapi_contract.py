"""The AsyncAPI contract, held by the whole test suite (a pytest plugin: tests/conftest.py).

Every frame any socket sends during the session -- whichever test drives it, through the
real ASGI server or otherwise -- is read as JSON and validated against the schema of its
message in the AsyncAPI document (players/asyncapi.py). A message name the document does
not know, or a message its schema refuses, fails the test during which it was sent (at its
teardown), and the session if it arrives after its test. tests/players/test_asyncapi.py
checks that every server message of the document is seen.
"""

import threading
from collections import Counter

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from players import asyncapi
from players.consumers import EventsConsumer
from portal import jsonutil

DOCUMENT_URI = "urn:jackpot-portal:asyncapi"


class Contract:
    """Validators for the document's server messages, and what the session has seen."""

    def __init__(self, document: dict) -> None:
        self.document = document
        registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7))
        self.validators = {
            name: jsonschema.Draft7Validator({"$ref": f"{DOCUMENT_URI}#/components/schemas/{name}"},
                                             registry=registry)
            for name in asyncapi.SERVER_MESSAGES
        }
        self.seen: Counter = Counter()
        self.violations: list[str] = []
        self.reported = 0
        self.lock = threading.Lock()

    def problems(self, text: str) -> tuple[str | None, list[str]]:
        """(the document's message name, what is wrong with the frame) -- nothing recorded."""
        try:
            message = jsonutil.loads(text)
        except (ValueError, jsonutil.NonFiniteNumber) as exc:
            return None, [f"not JSON ({exc}): {text[:200]}"]
        if not isinstance(message, dict):
            return None, [f"not a JSON object: {text[:200]}"]
        name = asyncapi.server_message_key(message)
        validator = self.validators.get(name)
        if validator is None:
            return None, [f"message name {name!r} is not in the AsyncAPI document: {text[:300]}"]
        errors = sorted(validator.iter_errors(message), key=lambda e: list(e.absolute_path))
        return name, [f"{name} at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
                      for e in errors]

    def record(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if text_data is None:
            problems, name = ["a binary frame: the document has JSON text frames only"], None
        else:
            name, problems = self.problems(text_data)
        with self.lock:
            if name is not None and not problems:
                self.seen[name] += 1
            self.violations += problems

    def unreported(self) -> list[str]:
        with self.lock:
            fresh, self.reported = self.violations[self.reported:], len(self.violations)
        return fresh


CONTRACT = Contract(asyncapi.document())


@pytest.fixture(scope="session", autouse=True)
def asyncapi_contract():
    """Wraps the one send path of every socket (EventsConsumer.send) for the whole session."""
    original = EventsConsumer.send

    async def send(self, text_data=None, bytes_data=None, close=False):
        if text_data is not None or bytes_data is not None:
            CONTRACT.record(text_data, bytes_data)
        return await original(self, text_data=text_data, bytes_data=bytes_data, close=close)

    patch = pytest.MonkeyPatch()
    patch.setattr(EventsConsumer, "send", send)
    yield CONTRACT
    patch.undo()


@pytest.fixture(autouse=True)
def _asyncapi_contract_holds(asyncapi_contract):
    """Torn down after the test's servers and sockets: everything they sent is checked."""
    yield
    violations = asyncapi_contract.unreported()
    if violations:
        pytest.fail("Socket messages outside the AsyncAPI document (players/asyncapi.py):\n  "
                    + "\n  ".join(violations[:20]), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    late = CONTRACT.unreported()
    if late:
        session.config.get_terminal_writer().line(
            "Socket messages outside the AsyncAPI document, sent after their test ended:\n  " + "\n  ".join(late[:20]),
            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
