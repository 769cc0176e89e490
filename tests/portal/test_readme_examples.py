"""The README's examples run as written (issue 13): its curl blocks through bash, and its
WebSocket example through the `websockets` client it names, against the real ASGI server
with `seed_demo`'s data and the demo wallet. The only change to the text is the portal's
host:port (the README's is `make run`'s 127.0.0.1:8000).
"""

import os
import queue
import re
import subprocess
import threading
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from demo.world import (
    DEPOSIT_ID,
    DIRECT_ID,
    GAME_RAFFLE_ID,
    MEGA_ID,
    RAFFLE_ID,
)
from portal import jsonutil
from tests.asgi import AsgiServer
from tests.seed import demo_world

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MAKE_RUN = "127.0.0.1:8000"
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)


def blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block of the README, in order, unindented."""
    found = []
    for indent, language, text in FENCE.findall(README):
        found.append((language, "\n".join(line[len(indent):] for line in text.splitlines())))
    return found


def block_after(index: int, language: str) -> str:
    return next(text for lang, text in blocks()[index + 1:] if lang == language)


class Shell:
    """bash running a script, its output read line by line, its input ours to write."""

    def __init__(self, script: str) -> None:
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        self.process = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, text=True, bufsize=1,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def until(self, predicate, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"timed out; output so far: {''.join(self.seen)[-2000:]}") from None
            if line is None:
                raise AssertionError(f"the script ended; output: {''.join(self.seen)[-2000:]}")
            self.seen.append(line)
            if predicate(line):
                return line

    def type(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def end(self) -> int:
        self.process.stdin.close()
        return self.process.wait(timeout=30)


def test_readme_curl_and_websocket_examples_run_as_written():
    curl_blocks = [(i, text) for i, (lang, text) in enumerate(blocks()) if lang == "sh" and "curl" in text]
    # the contribution, the WebSocket example (its player token), the public read
    [(contribute_at, contribute)] = [(i, text) for i, text in curl_blocks if "/jackpots/contribute" in text]
    [(socket_at, socket_example)] = [(i, text) for i, text in curl_blocks if "-m websockets" in text]
    [public_read] = [text for _, text in curl_blocks if "Authorization" not in text and "TOKEN" not in text]
    answer_shown = jsonutil.loads(block_after(contribute_at, "json"))
    messages = block_after(socket_at, "json").splitlines()
    assert "-m websockets" in socket_example and MAKE_RUN in contribute and MAKE_RUN in socket_example

    with demo_world() as wallet, AsgiServer() as server:
        here = f"127.0.0.1:{server.port}"
        # The contribution block twice (the README: "send it again"), then the socket example,
        # in one shell as a reader would paste them; markers between them are ours.
        script = "\n".join([contribute.replace(MAKE_RUN, here), "echo; echo @@again@@",
                            contribute.replace(MAKE_RUN, here), "echo; echo @@socket@@",
                            socket_example.replace(MAKE_RUN, here)])
        shell = Shell(script)
        first = jsonutil.loads(shell.until(lambda line: line.startswith("{")))
        shell.until(lambda line: "@@again@@" in line)
        again = jsonutil.loads(shell.until(lambda line: line.startswith("{")))
        shell.until(lambda line: line.startswith("Connected to ws://"))

        received = []

        def next_message(predicate):
            line = shell.until(lambda text: bool(re.search(r"< \{", text)) and predicate(
                jsonutil.loads(re.search(r"< (\{.*\})", text)[1])))
            message = jsonutil.loads(re.search(r"< (\{.*\})", line)[1])
            received.append(message)
            return message

        shell.type(messages[0])  # SubscribeRequest: a JackpotUpdate per jackpot
        updates = {}
        while len(updates) < 5:
            update = next_message(lambda m: m["msg_name"] == "JackpotUpdate")
            updates[update["data"]["id"]] = update
        shell.type(messages[1])  # PlayerRaffleTicketsRequest
        tickets = next_message(lambda m: m["msg_type"] in ("Message", "Error"))
        assert shell.end() == 0
        public = subprocess.run(["bash", "-c", public_read.replace(MAKE_RUN, here)], capture_output=True,
                                text=True, timeout=30, check=True).stdout

    # The answer the README shows, apart from what it elides ("…") and the time.
    for field, shown in answer_shown.items():
        if shown != "…" and field != "timestamp":
            assert first[field] == shown, field
    assert list(first) == list(answer_shown)
    assert again == first  # the same answer (same trace id): replayed, not contributed twice
    assert wallet.balance("player_00001") == D("1000") - D("0.10")  # the side bet, debited once
    # The socket: the five demo jackpots, then player_00001's tickets as the README says.
    assert set(updates) == {MEGA_ID, DEPOSIT_ID, RAFFLE_ID, GAME_RAFFLE_ID, DIRECT_ID}
    assert (tickets["msg_name"], tickets["player_id"]) == ("PlayerRaffleTicketListResponse", "player_00001")
    assert [(e["instance_id"], e["ticket_count"]) for e in tickets["data"]["instance_tickets"]] == [
        (RAFFLE_ID, 8), (GAME_RAFFLE_ID, 3)]
    # The public read, without a token: the brand's live jackpots, no player data.
    jackpots = jsonutil.loads(public)
    assert {j["id"] for j in jackpots} >= {MEGA_ID, DEPOSIT_ID} and "player_optin" not in public


def test_readme_simulate_example_is_one_command_line():
    """Copy-pasteable: one line in its own block, a command the parser takes."""
    (command,) = [text for lang, text in blocks() if lang == "sh" and "manage.py simulate" in text]
    assert len(command.strip().splitlines()) == 1
    assert command.startswith(".venv/bin/python manage.py simulate ")
