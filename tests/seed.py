"""The seed documents' examples: as written in the documents themselves (`examples_of`), and
the contribution examples of 004 by name (`seed_example`) for tests that build on them."""

import contextlib
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "docs" / "seeds"  # verbatim copies of ../shared/seeds/
ORIGINAL_SEEDS = ROOT.parent / "shared" / "seeds"
WEBSOCKET_DOC = "000_bac4f9ef580e5a02.txt"
CONTRIBUTIONS_DOC = "004_69be9ec412d234a7.txt"

SEED_INSTANCE_ID = "0a1cfeea-5b07-4f2b-b2f1-2e4cd2aa991d"


@dataclass
class Example:
    """A JSON block of a seed document: the JSON value, or for a structure written with type
    names (`"timestamp": Number`) the type names of each field."""

    doc: str
    line: int  # where the block starts (1-based)
    heading: str  # the nearest line of prose above it
    text: str
    value: object = None
    types: dict[str, set[str]] | None = None

    @property
    def id(self) -> str:
        return f"{self.doc[:3]}:{self.line}"


def lenient_json(text: str):
    """The seeds' JSON as the product reads it: their typos (a missing comma at the end of a
    line, trailing commas) mended, numbers as exact decimals."""
    text = re.sub(r'([0-9"el\]}])(\s*\n\s*["{\[])', r"\1,\2", text)  # "a": 8 <newline> "b" -> "a": 8,
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    return json.loads(text, parse_float=Decimal)


# `"field": Number,` or `"field": null | Object` (a structure); `"type": "data",` a fixed value.
FIELD = re.compile(r'^\s*"(\w+)":\s*((?:null|Number|String|Object|Boolean)(?:\s*\|\s*\w+)*|"\w+")\s*,?\s*$')


def examples_of(doc: str) -> list[Example]:
    """Every top-level `{ ... }` block of a seed document, in document order."""
    lines = (SEEDS / doc).read_text().splitlines()
    examples, start, heading = [], None, ""
    for number, line in enumerate(lines, start=1):
        if start is None and line == "{":
            start = number
        elif start is None and line.strip():
            heading = line.strip()
        elif start is not None and line == "}":
            text = "\n".join(lines[start - 1:number])
            example = Example(doc, start, heading, text)
            fields = [FIELD.match(row) for row in text.splitlines()[1:-1]]
            if all(fields) and any(not m[2].startswith('"') for m in fields):
                example.types = {m[1]: {t.strip() for t in m[2].split("|")} for m in fields}
            else:
                example.value = lenient_json(text)
            examples.append(example)
            start = None
    return examples


def seed_example(name: str) -> dict:
    """The seed document's request bodies, as written."""
    common = {"token": "token_00001", "brand_id": "thrilltech:brand1", "player_id": "player_00001",
              "player_country": "UK", "gameround_id": "1", "currency": "EUR", "base_wager": 1}
    examples = {
        "sitewide": {**common, "source_id": "casino-sitewide"},
        "deposit": {**common, "source_id": "deposit", "gameround_id": "DEPOSIT_TX_ID"},
        "egyptian": {**common, "source_id": "egyptian-games"},
        "game": {**common, "source_id": "provider-game-code"},
        "direct": {"instance_id": SEED_INSTANCE_ID, "token": "token_00001", "brand_id": "thrilltech:brand1",
                   "player_id": "player_00001", "player_country": "MT", "gameround_id": "1000",
                   "base_wager": 2, "currency": "EUR"},
        "metadata_object": {**common, "source_id": "casino-sitewide", "gameround_id": "m-1",
                            "metadata": {"value1": "some value", "value2": 1234}},
        "metadata_string": {**common, "source_id": "casino-sitewide", "gameround_id": "m-2",
                            "metadata": "This is an arbitrary string value"},
    }
    return examples[name]


class NoLuck:
    """Draws that never hit a random pot and put every hidden drop point at the far end, so
    that the demo's answers are the same on every run."""

    @staticmethod
    def randbelow(n: int) -> int:
        return n - 1

    @staticmethod
    def token_hex(nbytes: int) -> str:
        return "5a" * nbytes


@contextlib.contextmanager
def demo_world():
    """`manage.py seed_demo`'s data with brand1's wallet the demo reference wallet (on a free
    port), draws decided by `NoLuck` throughout. Yields the wallet."""
    from django.core.management import call_command

    from contributions.models import WalletConfig
    from demo.world import start_demo_wallet
    from sources.mechanics import use_randomness

    with use_randomness(NoLuck()):
        call_command("seed_demo", stdout=io.StringIO())
        wallet = start_demo_wallet(port=0)
        WalletConfig.objects.filter(brand__code="brand1").update(base_url=wallet.url)
        try:
            yield wallet
        finally:
            wallet.stop()
