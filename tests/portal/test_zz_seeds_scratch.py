import collections
from portal import simulator
from tests.portal.test_simulate import AsgiServer, Win, simulate, catalogue, pytestmark  # noqa


def test_dbg(catalogue, monkeypatch):
    seen = []

    def read(self):
        from portal import jsonutil
        for text in self.connection:
            m = jsonutil.loads(text)
            if m.get("msg_name") == "WinEvent":
                seen.append(m)
            with self.lock:
                pending = self.pending
            if pending is not None and self._answers(m, pending):
                self.replies.put(m)
            elif m.get("msg_type") == "Event":
                self.tally.events[str(m.get("msg_name"))] += 1
        self.closed.set()
    monkeypatch.setattr(simulator.ServiceSocket, "_read", read)
    with AsgiServer() as server:
        output = simulate(server, "--players", "10", "--contributions", "60", "--opt-in-share", "0.8",
                          "--concurrency", "4", "--seed", "7")
    print(output)
    c = collections.Counter((m["data"]["player_id"], str(m["data"]["timestamp"]), str(m["data"]["win_amount"])) for m in seen)
    print("DUPES", [(k, n) for k, n in c.items() if n > 1], len(seen), Win.objects.count())
