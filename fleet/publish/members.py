"""A store's member cache: who its tills recognise offline, with balances from HQ's ledger.

**The slice.** A store's cache holds the active members whose home store it is, those with no
home store (every store's), and those who bought there; plus members enrolled at a till whom
HQ's member records do not know yet (their home store is the enrolling store). Phone numbers go
out only as HMAC-SHA256 under the tenant's active phone hash key (``protocol.phones``) — the key
listed first in the device config, which is the one the till hashes keyed-in numbers with.

**Balances** are the sum of the member's ``loyalty_ledger`` entries (earn, redeem, adjust ...,
booked by ingest and by HQ), never below zero on the wire.

**Delta or snapshot.** HQ remembers the content it last sent each store (``member_cache_entries``)
and diffs against it. A delta goes out only if every till of the store reports running exactly
that last version (a till applies a delta only on its base); anything else, or ``full``, is a
snapshot.

**Reconciliation with the tills' pending points.** A till keeps the points its own sales moved
as pending rows until a cache *issued after* HQ acked those sales (``acked_at <= issued_at``)
refreshes the member; then the cached balance includes them and the rows go. Two rules follow:

1. ``issued_at`` is taken *before* the ledger is read, so every movement acked before it is in
   the balances (ingest acks only after its COMMIT).
2. A delta re-sends every member who may hold such a row that no cache cleared yet, even when
   their content did not change (an earn and a redeem of equal points): members with ledger
   movements from the store's tills above the seq each till had acked when the previous cache
   was built (sales acked later, e.g. after a gap was filled), and members with movements
   received within ``reconcile_margin`` before the previous cache (an ack published just
   after it). A snapshot clears everything acked before it, so a periodic ``--full`` bounds
   whatever these rules could miss.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from fleet.db import Connection, next_version
from fleet.keys import Signer
from fleet.publish.catalog import phone_hash_keys, till_settings
from fleet.publish.documents import (
    DEFAULT_TTL,
    Prepared,
    PublishError,
    new_doc_id,
    sign_and_record,
    store_scope,
    utcnow,
    version_floor,
)
from protocol.messages import make_document
from protocol.messages.downlink import CachedMember, MemberCache, MemberCoupon
from protocol.phones import phone_hash

RECONCILE_MARGIN = dt.timedelta(minutes=15)
"""How long before the previous cache a movement's arrival still counts as possibly acked
after it (ingest acks right after its commit; this covers a slow or restarted worker)."""

MAX_COUPONS = 50


def prepare_member_cache(
    conn: Connection,
    signer: Signer,
    *,
    tenant: str,
    store: str,
    full: bool = False,
    now: dt.datetime | None = None,
    ttl: dt.timedelta = DEFAULT_TTL,
    reconcile_margin: dt.timedelta = RECONCILE_MARGIN,
) -> Prepared:
    """Build, sign and record the next member cache of ``store`` (one transaction)."""
    scope = store_scope(tenant, store)
    marks = _acked_marks(conn, tenant, store)  # read before issued_at: see rule 2
    now = now or utcnow()  # issued_at, taken before the ledger is read: see rule 1
    with conn.transaction():
        keys = phone_hash_keys(conn, tenant)
        if not keys:
            raise PublishError(
                f"tenant {tenant} has no phone hash key (fleet catalog hash-key KEY_ID)"
            )
        key = keys[0]
        floor = version_floor(conn, MemberCache.TYPE, scope)
        version = next_version(conn, MemberCache.TYPE, scope, now=now, at_least=floor)
        settings = till_settings(conn, tenant, store, None)
        default_limit = settings.loyalty.default_offline_redeem_limit if settings else 0
        members = store_members(
            conn, tenant, store, hash_key=key.secret, default_offline_limit=default_limit, now=now
        )
        encoded = {mid: msgspec.json.encode(m).decode() for mid, m in members.items()}
        sent = {
            row["member_id"]: row["entry"]
            for row in conn.execute(
                "SELECT member_id, entry FROM member_cache_entries WHERE tenant = ? AND store = ?",
                [tenant, store],
            )
        }
        last = conn.one(
            "SELECT version, issued_at FROM published_documents"
            " WHERE tenant = ? AND kind = ? AND store = ? AND device IS NULL"
            " ORDER BY version DESC LIMIT 1",
            [tenant, MemberCache.TYPE, store],
        )
        note = "asked for a full snapshot" if full else ""
        base: int | None = None
        if not full:
            base, note = _delta_base(conn, tenant, store, last)
        if base is None:
            listed, removed = sorted(members), []
        else:
            assert last is not None
            since = last["issued_at"] - reconcile_margin
            touched = _touched(conn, tenant, store, since)
            listed = sorted(
                mid for mid in members if sent.get(mid) != encoded[mid] or mid in touched
            )
            removed = sorted(mid for mid in sent if mid not in members)
        _remember(conn, tenant, store, encoded, sent, snapshot=base is None)
        conn.execute(
            "DELETE FROM member_cache_marks WHERE tenant = ? AND store = ?", [tenant, store]
        )
        conn.executemany(
            "INSERT INTO member_cache_marks (tenant, store, device, acked_seq) VALUES (?, ?, ?, ?)",
            [(tenant, store, device, seq) for device, seq in marks.items()],
        )
        body = MemberCache(
            mode="snapshot" if base is None else "delta",
            base_version=base,
            hash_key_id=key.key_id,
            members=[members[mid] for mid in listed],
            removed=removed,
        )
        doc = make_document(
            body,
            doc_id=new_doc_id(now),
            scope=scope,
            version=version,
            issued_at=now,
            expires_at=now + ttl,
        )
        return sign_and_record(
            conn,
            signer,
            doc,
            mode=body.mode,
            base_version=base,
            entries=len(listed),
            removed=len(removed),
            note=note if base is None else "",
        )


def store_members(
    conn: Connection,
    tenant: str,
    store: str,
    *,
    hash_key: bytes,
    default_offline_limit: int,
    now: dt.datetime,
) -> dict[str, CachedMember]:
    """The store's slice of the member base as tills will hold it, by member id."""
    balances = {
        row["member_id"]: int(row["points"])
        for row in conn.execute(
            "SELECT member_id, SUM(points) AS points FROM loyalty_ledger WHERE tenant = ?"
            " GROUP BY member_id",
            [tenant],
        )
    }
    coupons: dict[str, list[MemberCoupon]] = {}
    for row in conn.execute(
        "SELECT member_id, code, promotion_id, expires_at, single_use FROM member_coupons"
        " WHERE tenant = ? AND redeemed_at IS NULL",
        [tenant],
    ):
        if row["expires_at"] is not None and row["expires_at"] <= now:
            continue
        coupons.setdefault(row["member_id"], []).append(
            MemberCoupon(
                code=row["code"],
                promotion_id=row["promotion_id"],
                expires_at=row["expires_at"],
                single_use=bool(row["single_use"]),
            )
        )
    out: dict[str, CachedMember] = {}
    for row in conn.execute(
        "SELECT m.member_id, m.phone, m.card_no, m.first_name, m.tier, m.birthday,"
        " m.recommendation, m.offline_redeem_limit, m.stored_value FROM members m"
        " WHERE m.tenant = ? AND m.active = 1"
        " AND (m.home_store IS NULL OR m.home_store = ? OR EXISTS (SELECT 1 FROM sales s"
        " WHERE s.tenant = m.tenant AND s.store = ? AND s.member_id = m.member_id))",
        [tenant, store, store],
    ):
        out[row["member_id"]] = _cached(row, balances, coupons, hash_key, default_offline_limit)
    # Enrolled at a till, not (yet) in HQ's member records: known by what the till sent.
    for row in conn.execute(
        "SELECT e.member_id, e.phone, e.card_no, e.first_name FROM members_enrolled e"
        " WHERE e.tenant = ? AND NOT EXISTS (SELECT 1 FROM members m"
        " WHERE m.tenant = e.tenant AND m.member_id = e.member_id)"
        " AND (e.store = ? OR EXISTS (SELECT 1 FROM sales s"
        " WHERE s.tenant = e.tenant AND s.store = ? AND s.member_id = e.member_id))"
        " ORDER BY e.enrolled_at",
        [tenant, store, store],
    ):
        enrolled = {
            **row,
            "tier": None,
            "birthday": None,
            "recommendation": None,
            "offline_redeem_limit": None,
            "stored_value": 0,
        }
        out[row["member_id"]] = _cached(
            enrolled, balances, coupons, hash_key, default_offline_limit
        )
    return out


def _cached(
    row: dict[str, Any],
    balances: dict[str, int],
    coupons: dict[str, list[MemberCoupon]],
    hash_key: bytes,
    default_offline_limit: int,
) -> CachedMember:
    member_id = row["member_id"]
    limit = row["offline_redeem_limit"]
    return CachedMember(
        member_id=member_id,
        phone_hash=phone_hash(hash_key, row["phone"]) if row["phone"] else None,
        card_no=row["card_no"],
        first_name=row["first_name"],
        tier=row["tier"],
        points=max(0, balances.get(member_id, 0)),
        offline_redeem_limit=default_offline_limit if limit is None else int(limit),
        stored_value=int(row["stored_value"]),
        birthday=row["birthday"],
        recommendation=row["recommendation"],
        coupons=sorted(coupons.get(member_id, []), key=lambda c: c.code)[:MAX_COUPONS],
    )


def _acked_marks(conn: Connection, tenant: str, store: str) -> dict[str, int]:
    return {
        row["device"]: int(row["acked_seq"])
        for row in conn.execute(
            "SELECT device, acked_seq FROM devices WHERE tenant = ? AND store = ?", [tenant, store]
        )
    }


def _delta_base(
    conn: Connection, tenant: str, store: str, last: dict[str, Any] | None
) -> tuple[int | None, str]:
    if last is None:
        return None, "first member cache of the store"
    base = int(last["version"])
    rows = conn.execute(
        "SELECT device, member_cache_version AS v FROM devices WHERE tenant = ? AND store = ?",
        [tenant, store],
    )
    if not rows:
        return None, "no till of the store has reported yet"
    behind = sorted(
        f"{r['device']} v{r['v']}" if r["v"] is not None else f"{r['device']} none"
        for r in rows
        if r["v"] != base
    )
    if behind:
        return None, f"tills not on v{base}: {', '.join(behind)}"
    return base, ""


def _touched(conn: Connection, tenant: str, store: str, since: dt.datetime) -> set[str]:
    """Members whose pending points on a till of ``store`` no cache may have cleared yet."""
    marks = {
        row["device"]: int(row["acked_seq"])
        for row in conn.execute(
            "SELECT device, acked_seq FROM member_cache_marks WHERE tenant = ? AND store = ?",
            [tenant, store],
        )
    }
    found: set[str] = set()
    for row in conn.execute(
        "SELECT device FROM devices WHERE tenant = ? AND store = ?", [tenant, store]
    ):
        device = row["device"]
        for hit in conn.execute(
            "SELECT DISTINCT l.member_id FROM events e JOIN loyalty_ledger l"
            " ON l.event_id = e.event_id"
            " WHERE e.tenant = ? AND e.store = ? AND e.device = ?"
            " AND (e.seq > ? OR e.received_at >= ?)",
            [tenant, store, device, marks.get(device, 0), since],
        ):
            found.add(hit["member_id"])
    return found


def _remember(
    conn: Connection,
    tenant: str,
    store: str,
    encoded: dict[str, str],
    sent: dict[str, str],
    *,
    snapshot: bool,
) -> None:
    """Record what the store's tills hold once this cache is applied."""
    if snapshot:
        conn.execute(
            "DELETE FROM member_cache_entries WHERE tenant = ? AND store = ?", [tenant, store]
        )
        sent = {}
    gone = [mid for mid in sent if mid not in encoded]
    conn.executemany(
        "DELETE FROM member_cache_entries WHERE tenant = ? AND store = ? AND member_id = ?",
        [(tenant, store, mid) for mid in gone],
    )
    conn.executemany(
        "INSERT INTO member_cache_entries (tenant, store, member_id, entry) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (tenant, store, member_id) DO UPDATE SET entry = excluded.entry",
        [(tenant, store, mid, text) for mid, text in encoded.items() if sent.get(mid) != text],
    )
