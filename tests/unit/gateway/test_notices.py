"""19003 notices (API.md section 4) from real engine events, and the Notifier: delivery to
the product's subscribers only, gap-free ``seq`` and the ``since`` replay."""

from __future__ import annotations

import json

from gateway_helpers import CONFIG

from ceres.domain import commands as C
from ceres.domain.events import OrderEvent, PositionEvent
from ceres.domain.secret import Secret
from ceres.gateway.auth import Authenticator
from ceres.gateway.notices import Notifier, order_notice, position_notice
from ceres.pipeline.dispatch import Dispatcher
from ceres.wire.ws import Registry
from contract_helpers import contract_harness, perp
from engine_helpers import T0, btc_usdt_harness

TZ = CONFIG.tz
ORDER_NOTICE_KEYS = {"product", "exchange", "contract", "entrustId", "avgDealPrice", "entrustTime", "entrustStatus",
                     "entrustDir", "entrustType", "lever", "entrustPrice", "entrustVol", "dealVol", "totalDealVol",
                     "messageType", "seq"}
POSITION_NOTICE_KEYS = {"product", "entrustId", "forcedPrice", "totalMargin", "profit", "stop", "dealId", "type",
                        "messageType", "seq"}


def test_order_notice_of_a_partial_fill():
    h = btc_usdt_harness()
    h.fund("alice", "USDT", 10**14)
    h.fund("bob", "BTC", 10**12)
    oid = h.buy("alice", 3_000_000, 5000, client_oid="c1")   # 0.5 BTC at 30000
    h.sell("bob", 3_000_000, 2000)                            # 0.2 of it fills
    fill = [e for e in h.order_events() if e.spec.oid == oid][-1]
    n = order_notice(fill, TZ)
    assert set(n) == ORDER_NOTICE_KEYS
    assert n == {"product": "alice", "exchange": "TEST", "contract": "BTC/USDT", "entrustId": str(oid),
                 "avgDealPrice": "30000", "entrustTime": "2025-10-09 16:53:20", "entrustStatus": "PART_FILLED",
                 "entrustDir": "BUY", "entrustType": "LIMIT", "lever": "1", "entrustPrice": "30000",
                 "entrustVol": "0.5", "dealVol": "0.2", "totalDealVol": "0.2", "messageType": "1", "seq": 2}


def test_order_notice_of_a_spot_market_buy_and_of_contract_orders():
    h = btc_usdt_harness()
    h.fund("alice", "USDT", 10**14)
    h.fund("bob", "BTC", 10**12)
    h.sell("bob", 3_000_000, 5000)
    h.market_buy("alice", 100 * 10**8)
    n = order_notice([e for e in h.order_events() if e.spec.product == "alice"][-1], TZ)
    assert (n["entrustType"], n["entrustPrice"], n["entrustVol"]) == ("MARKET", "0", "100")   # quote to spend
    assert (n["entrustStatus"], n["dealVol"], n["totalDealVol"]) == ("FILLED", "0", "0.0033")

    c = contract_harness(perp())
    long_ = c.open_long("alice", 300_000, 10, lever=10)
    c.open_short("bob", 300_000, 10, lever=20)
    c.close_long("alice", 300_000, 4, deal_id=c.deal_of(long_))
    dirs = {(e.spec.product, e.spec.oid): order_notice(e, TZ) for e in c.order_events()}
    assert dirs[("alice", long_)]["entrustDir"] == "BUY_OPEN" and dirs[("alice", long_)]["lever"] == "10"
    assert {n["entrustDir"] for (p, _), n in dirs.items() if p == "bob"} == {"SELL_OPEN"}
    assert "SELL_CLOSE" in {n["entrustDir"] for n in dirs.values()}


def test_position_notices_pending_and_position():
    c = contract_harness(perp())
    c.eng.take_events()
    oid = c.open_long("alice", 300_000, 10, lever=10, profit=330_000)
    (pending,) = [position_notice(e) for e in c.eng.take_events() if isinstance(e, PositionEvent)]
    assert set(pending) == POSITION_NOTICE_KEYS
    assert pending == {"product": "alice", "entrustId": str(oid), "forcedPrice": "27135.6", "totalMargin": "30",
                       "profit": "33000", "stop": "0", "dealId": "", "type": "PENDING", "messageType": "2",
                       "seq": 2}
    c.open_short("bob", 300_000, 10, lever=10)
    opened = [e for e in c.eng.take_events() if isinstance(e, PositionEvent) and e.kind == "POSITION"]
    mine = position_notice(next(e for e in opened if e.product == "alice"))
    assert (mine["type"], mine["entrustId"], mine["totalMargin"], mine["profit"]) == ("POSITION", str(oid), "30",
                                                                                       "33000")
    assert mine["dealId"] == str(c.deal_of(oid))


class Sub:
    """A stand-in for a NotifyListener: what ``Notifier.subscribe`` reads, and what it sent."""

    def __init__(self, product: str, since: int | None = None) -> None:
        self.product = product
        self.since = since
        self.sent: list[bytes] = []

    def send_text(self, data: bytes) -> None:
        self.sent.append(data)

    def seqs(self) -> list[int]:
        return [json.loads(d)["seq"] for d in self.sent]


class NotifyRig:
    """BTC/USDT engine with keys for alice and bob, and a Notifier fed like the dispatcher does."""

    def __init__(self, retention: int = 10_000) -> None:
        self.h = btc_usdt_harness()
        for n, name in enumerate(("alice", "bob")):
            self.h.apply(C.CreateKey(name, f"key{n}".ljust(16, "k"), Secret("s" * 32), 3))
        self.h.fund("alice", "USDT", 10**14)
        self.h.fund("bob", "BTC", 10**12)
        self.notifier = Notifier(Authenticator(self.h.eng.keys), Registry(), tz=TZ, now_ms=lambda: T0,
                                 retention=retention)
        self.dispatcher = Dispatcher([self.notifier.subscription()])

    def feed(self) -> None:
        self.dispatcher.dispatch([(self.h.seq, self.h.eng.take_events())])

    def orders(self, product: str, count: int, price: int = 2_900_000) -> None:
        for i in range(count):
            if product == "alice":
                self.h.buy("alice", price + i, 10)
            else:
                self.h.sell("bob", price + 200_000 + i, 10)
        self.feed()


def test_notices_go_to_the_products_subscribers_with_gap_free_seq():
    r = NotifyRig()
    alice, alice2, bob = Sub("alice"), Sub("alice"), Sub("bob")
    for s in (alice, alice2, bob):
        r.notifier.subscribe(s)
    r.orders("alice", 2)
    r.orders("bob", 1)
    r.h.sell("bob", 2_900_001, 10)   # fills alice's best bid: notices for both products
    r.feed()
    got = [json.loads(d) for d in alice.sent]
    assert {n["product"] for n in got} == {"alice"}
    assert alice.seqs() == [1, 2, 3]
    assert alice2.sent == alice.sent
    assert [json.loads(d)["product"] for d in bob.sent] == ["bob"] * 3
    assert bob.seqs() == [1, 2, 3]           # resting sell; the taker sell accepted, then filled
    assert r.notifier.sent == 3 + 3 + 3
    r.notifier.unsubscribe(alice2)
    r.orders("alice", 1)
    assert alice.seqs()[-1] == 4 and len(alice2.sent) == 3


def test_since_replays_what_is_retained():
    r = NotifyRig(retention=3)
    r.orders("alice", 5)                     # alice's notices 1..5; 3, 4, 5 retained
    r.orders("bob", 2)
    recent = Sub("alice", since=3)
    r.notifier.subscribe(recent)
    assert recent.seqs() == [4, 5]
    old = Sub("alice", since=0)
    r.notifier.subscribe(old)
    first = json.loads(old.sent[0])
    assert (first["messageType"], first["seq"]) == ("0", 2)   # replay starts after 2
    assert old.seqs()[1:] == [3, 4, 5]
    caught_up = Sub("alice", since=5)
    r.notifier.subscribe(caught_up)
    assert caught_up.sent == []
    r.orders("alice", 1)                     # then live, no gap and no duplicate
    assert recent.seqs() == [4, 5, 6] and old.seqs()[1:] == [3, 4, 5, 6] and caught_up.seqs() == [6]


def test_notices_from_before_the_start_count_as_delivered():
    r = NotifyRig()
    r.h.buy("alice", 2_900_000, 10)          # issued, never fed to this Notifier (a restart)
    r.h.buy("alice", 2_900_001, 10)
    r.h.eng.take_events()
    restarted = Notifier(Authenticator(r.h.eng.keys), Registry(), tz=TZ, now_ms=lambda: T0)
    late = Sub("alice", since=0)
    restarted.subscribe(late)
    assert [json.loads(d)["messageType"] for d in late.sent] == ["0"]
    assert json.loads(late.sent[0])["seq"] == 2
    up_to_date = Sub("alice", since=2)
    restarted.subscribe(up_to_date)
    assert up_to_date.sent == []
    r.h.buy("alice", 2_900_002, 10)
    events = r.h.eng.take_events()
    assert [e.nseq for e in events if isinstance(e, OrderEvent)] == [3]
    restarted.on_notices([e for e in events if isinstance(e, OrderEvent | PositionEvent)])
    assert late.seqs()[1:] == [3] and up_to_date.seqs() == [3]
