"""docs/ARCHITECTURE.md names code as it is: every file it cites exists, every `module.name` it
cites imports, and every other name in backticks is a name the code uses (a function, class,
field, setting, command, or a code such as an error code or message name the code sends)."""

import ast
import importlib
import re
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from celery import current_app
from django.apps import apps
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ["portal", "sources", "players", "contributions", "demo"]
# Where a path or module the text names relative to its app is looked for.
PATH_BASES = ["", "portal/", "sources/", "players/", "contributions/", "demo/", "tests/"]
MODULE_BASES = ["", "portal.", "sources.", "players.", "contributions.", "contributions.services.", "demo."]
FILE = re.compile(r"^[\w./-]+\.(py|js|md|html|toml|css|json)$")
PATH = re.compile(r"^[\w.-]+(/[\w.-]+)*/?$")
DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
WORD = re.compile(r"^[A-Za-z_]\w*$")
# Not Python: the browser's API, a key of the DATABASES setting, Django's clock.
NOT_OURS = {"Intl.NumberFormat", "OPTIONS.pool", "timezone.now"}


def cited() -> list[str]:
    """Backticked spans that name code: no spaces, no URL, no placeholders; a call's
    arguments dropped (`debit_for(plan)` names `debit_for`)."""
    names = []
    for span in re.findall(r"`([^`\n]+)`", DOC.read_text()):
        span = re.sub(r"\(.*\)$", "", span.strip())
        if span and not span.startswith(("/", "?", "-", "{", "[")) and not re.search(r"[\s<>:*{}=]", span):
            names.append(span)
    return names


@cache
def code_words() -> frozenset[str]:
    """Every identifier and every identifier-like string literal of the project's code, the
    settings and the management commands. (A library, e.g. `tzdata`, is named by importing it.)"""
    words = set(dir(settings)) | set(get_commands())
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Name):
                    words.add(node.id)
                elif isinstance(node, ast.Attribute):
                    words.add(node.attr)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    words.add(node.name)
                elif isinstance(node, ast.arg | ast.keyword) and node.arg:
                    words.add(node.arg)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    words.update(re.findall(r"[A-Za-z_][\w-]*", node.value))
    return frozenset(words)


def file_exists(name: str) -> bool:
    if "/" not in name.rstrip("/"):  # a bare file name: somewhere in the project
        return (ROOT / name).exists() or any(any((ROOT / base).rglob(name)) for base in PATH_BASES if base)
    return any((ROOT / base / name).exists() for base in PATH_BASES)


def resolves(dotted: str) -> bool:
    """`module.attr...`, the module given whole or relative to an app (or `contributions.services`);
    or `Model.attribute` of one of the project's models."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        for base in MODULE_BASES:
            try:
                target = importlib.import_module(base + ".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for part in parts[cut:]:
                    target = getattr(target, part)
            except AttributeError:
                continue
            return True
    return len(parts) == 2 and any(hasattr(model, parts[1]) for model in apps.get_models()
                                   if model.__name__ == parts[0])


def names_elsewhere(dotted: str) -> bool:
    """A dotted name that is no module path: a setting, a Celery task, a permission."""
    first, _, rest = dotted.partition(".")
    if first == "settings":
        return hasattr(settings, rest)
    current_app.loader.import_default_modules()
    if dotted in current_app.tasks:
        return True
    labels = {config.label for config in apps.get_app_configs()}
    return first in labels and any(
        rest in {codename for codename, _ in model._meta.permissions}
        | {f"{action}_{model._meta.model_name}" for action in model._meta.default_permissions}
        for model in apps.get_app_config(first).get_models())


def test_every_file_the_architecture_cites_exists():
    missing = [name for name in cited()
               if (FILE.match(name) or ("/" in name and PATH.match(name) and not DOTTED.match(name.split("/")[-1])))
               and not file_exists(name)]
    assert not missing, f"docs/ARCHITECTURE.md cites what the code does not have: {missing}"


def test_every_module_and_function_the_architecture_cites_exists():
    missing = []
    for name in cited():
        if FILE.match(name) or name in NOT_OURS:
            continue
        if "/" in name:  # `portal/live.instance_changed`: a module's file, then a name in it
            path, _, rest = name.rpartition("/")
            if not DOTTED.match(rest) or FILE.match(name):
                continue
            module, _, attr = rest.partition(".")
            if not any(resolves(f"{base}{path.replace('/', '.')}.{module}.{attr}".lstrip("."))
                       for base in ("", "contributions.")):
                missing.append(name)
        elif DOTTED.match(name) and not (resolves(name) or names_elsewhere(name)):
            missing.append(name)
    assert not missing, f"docs/ARCHITECTURE.md cites what the code does not have: {missing}"


def test_every_other_name_the_architecture_cites_is_used_by_the_code():
    words = code_words()
    missing = [name for name in cited() if WORD.match(name) and name not in words and not find_spec(name)]
    assert not missing, f"docs/ARCHITECTURE.md cites what the code does not have: {missing}"
