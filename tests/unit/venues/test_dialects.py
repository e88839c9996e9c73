"""Client order ids per venue (venues.live.dialects): ``cer<system_oid>`` where a venue takes
text; Bitfinex's integer ``cid`` below 2**45, distinct for every id issued within a UTC day."""

from __future__ import annotations

from ceres.domain.ids import IdGen, id_floor
from ceres.venues.live.dialects import DAY_MS, dialect


def test_text_client_ids() -> None:
    d = dialect("BINANCE")
    assert d.client_id(1182205268641972224) == "cer1182205268641972224" == d.client_key(1182205268641972224)
    assert len(d.client_id(2**63 - 1)) <= 32  # within OKX's 32 (and Binance's 36, HTX's 64)


def test_bitfinex_cids_fit_45_bits_and_are_unique_within_a_day() -> None:
    d = dialect("BITFINEX")
    day_start = 1_796_000_000_000 - 1_796_000_000_000 % DAY_MS
    gen = IdGen(id_floor(day_start) - 1)
    ids = []
    for ms in (0, 1, 1000, 3_600_000, DAY_MS - 1):  # across the day, bursts in one millisecond
        ids += [gen.next(day_start + ms) for _ in range(5000)]
    cids = [d.client_id(oid) for oid in ids]
    assert all(isinstance(c, int) and 0 <= c < 2**45 for c in cids)
    assert len(set(cids)) == len(cids)
    assert d.client_key(ids[0]) == str(cids[0])
