"""Nothing shown before it is durable: queries racing placements across a SIGKILL never
report an order that is absent after the restart.

Placing threads keep a batch in flight at all times; querying threads read open orders
(REST ``trade/open_orders``) and record every order id a reply showed.
The server is SIGKILLed at a random moment and restarted: every order any query showed
must still be there (a reply that showed live engine state waited until that state was
durable; see ``docs/durability.md``). Bounded in time and count; loopback only.
"""

from __future__ import annotations

import random
import threading
import time

from tests.serverproc import ServerProcess

CYCLES = 3
CHUNK = 15


class Placer(threading.Thread):
    def __init__(self, srv: ServerProcess, seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.c = srv.rest(timeout=5.0)
        self.rng = random.Random(seed)
        self.stop = stop

    def run(self) -> None:
        mine: list[str] = []
        try:
            while not self.stop.is_set():
                if len(mine) > 10:  # keep the open book small, so every reply lists the newest orders
                    self.c.cancel(mine.pop(self.rng.randrange(len(mine))))
                side = self.rng.choice(("buy", "sell"))
                price = 20000 - self.rng.randint(0, 500) if side == "buy" else 40000 + self.rng.randint(0, 500)
                r = self.c.place(exchange="TEST", contract="BTC/USDT", price_type="limit", entrust_bs=side,
                                 entrust_price=str(price), entrust_vol="0.001")
                if r.get("code") == "200":
                    mine.append(r["data"]["system_oid"])
        except Exception:  # the server is gone
            pass


class Reader(threading.Thread):
    def __init__(self, srv: ServerProcess, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.c = srv.rest(timeout=5.0)
        self.stop = stop
        self.seen: set[str] = set()
        self.replies = 0

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                r = self.c.open_orders(limit=100)
                if r.get("code") == "200":
                    self.seen.update(o["system_oid"] for o in r["data"]["orderDetailRes"])
                    self.replies += 1
        except Exception:
            pass


def test_no_query_shows_an_order_a_crash_takes_back(server_factory):
    rng = random.Random(20261207)
    srv = server_factory("reads", config="[journal]\nfsync = true\n")
    srv.start()
    seen: set[str] = set()
    replies = 0
    for _ in range(CYCLES):
        stop = threading.Event()
        threads = [Placer(srv, rng.randrange(1 << 30), stop) for _ in range(4)]
        readers = [Reader(srv, stop) for _ in range(2)]
        for t in threads + readers:
            t.start()
        time.sleep(rng.uniform(0.8, 1.5))
        srv.kill()
        stop.set()
        for t in threads + readers:
            t.join(15)
            assert not t.is_alive()
        for r in readers:
            seen |= r.seen
            replies += r.replies
        srv.start()
        c = srv.rest(timeout=10.0)
        ids = sorted(seen)
        found: set[str] = set()
        for i in range(0, len(ids), CHUNK):
            reply = c.orders(system_oid=",".join(ids[i:i + CHUNK]))
            assert reply["code"] == "200", reply
            found.update(o["system_oid"] for o in reply["data"])
        missing = sorted(set(ids) - found)
        assert not missing, f"{len(missing)} orders a query showed are gone after the crash: {missing[:5]}"
    assert replies > 50 and len(seen) > 100  # the race really ran
    srv.stop()
