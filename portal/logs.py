"""Structured logs: every record carries the `trace_id`, `operator` and `brand` of the work it
belongs to, written as JSON (python-json-logger) or as text (`LOG_FORMAT`, see settings).

The context is a dict held in a ContextVar. A scope (`log_scope`) is opened per HTTP request
(`portal.metrics.gateway_metrics`) and per task (Celery's task signals, below); code inside it
adds what it learns with `log_bind(...)` -- the operator once the token is checked, the brand
once the body is parsed, the trace id once the contribution has one. The dict is shared by
reference, so what a worker thread binds (sync_to_async copies the context, not the dict) is
seen by the error handlers that log after it returned.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from celery.signals import task_postrun, task_prerun
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

FIELDS = ("trace_id", "operator", "brand")

_context: ContextVar[dict | None] = ContextVar("portal_log_context", default=None)


@contextmanager
def log_scope(**fields) -> Iterator[dict]:
    """A fresh context for one unit of work (a request, a task); restored on exit."""
    token = _context.set({key: str(value) for key, value in fields.items() if value is not None})
    try:
        yield _context.get()
    finally:
        _context.reset(token)


@contextmanager
def log_within(context: dict | None) -> Iterator[None]:
    """Work done for another scope (a request waiting on the database lane) logs with, and
    binds into, that scope's context."""
    token = _context.set(context)
    try:
        yield
    finally:
        _context.reset(token)


def log_bind(**fields) -> None:
    """Add to the current scope. Outside any scope (a shell, a thread of our own) nothing is
    kept: a value set there would stick to every later record of that thread."""
    current = _context.get()
    if current is not None:
        current.update({key: str(value) for key, value in fields.items() if value is not None})


def log_current() -> dict | None:
    """The current scope's context itself (not a copy), to hand to `log_within`."""
    return _context.get()


def log_fields() -> dict:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Puts the scope's fields on every record (None where unknown); attached to the handlers,
    so records of every logger get them."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _context.get() or {}
        for key in FIELDS:
            if not hasattr(record, key):
                setattr(record, key, current.get(key))
        # The text format's suffix: only what is known.
        known = " ".join(f"{key}={getattr(record, key)}" for key in FIELDS if getattr(record, key) is not None)
        record.log_context = f" [{known}]" if known else ""
        return True


class ClientErrorsAtInfo(logging.Filter):
    """On `django.request`: a 4xx (a 404 for a path nobody serves, a refused form) is the
    client's doing, not something a person must look at, so it goes out at INFO instead of
    Django's WARNING. 5xx stay errors. The API logs its refusals itself, with their code
    (`portal.http.error_response` marks the request): Django's line for those is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(getattr(record, "request", None), "refusal_logged", False):
            return False
        if record.levelno == logging.WARNING and 400 <= getattr(record, "status_code", 0) < 500:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, message, the context fields, then any
    `extra` the call passed; exceptions as a `exc_info` string."""
    return JsonFormatter(
        ["asctime", "levelname", "name", "message", *FIELDS],
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        reserved_attrs=[*RESERVED_ATTRS, "log_context"],
    )


def text_formatter() -> logging.Formatter:
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s%(log_context)s")


def _task_scopes() -> None:
    """Each Celery task (worker, embedded pool, inline) runs in a scope of its own, so what one
    task binds never leaks into the next one run by the same thread."""
    tokens: dict[str, object] = {}

    @task_prerun.connect(weak=False)
    def open_scope(task_id=None, **kwargs) -> None:
        tokens[task_id] = _context.set({})

    @task_postrun.connect(weak=False)
    def close_scope(task_id=None, **kwargs) -> None:
        token = tokens.pop(task_id, None)
        if token is not None:
            try:
                _context.reset(token)
            except ValueError:  # set in another context (a task run across threads): drop it
                _context.set(None)


_task_scopes()
