"""A store's promotion set, always a full snapshot.

Promotions are stored per tenant as their wire JSON (``promotions``); which stores one runs in
is its own ``conditions.stores`` (empty: every store), the same field the till's pricing checks,
so there is one notion of "where" rather than two that could disagree. A set is at most
8 MiB and a till keeps every set an open sale still uses, so a snapshot costs little and can
never meet a till on the wrong base; deltas are left to the day sets grow large.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from fleet.db import Connection, next_version
from fleet.keys import Signer
from fleet.publish.documents import (
    DEFAULT_TTL,
    Prepared,
    new_doc_id,
    sign_and_record,
    store_scope,
    utcnow,
    version_floor,
)
from protocol.messages import make_document
from protocol.messages.promotions import Promotion, PromotionSet

_decoder = msgspec.json.Decoder(Promotion)


def store_promotions(
    conn: Connection, tenant: str, store: str, now: dt.datetime
) -> list[Promotion]:
    """The active promotions that can apply in ``store`` and have not ended, by id."""
    out = []
    for row in conn.execute(
        "SELECT body FROM promotions WHERE tenant = ? AND active = 1", [tenant]
    ):
        promotion = _decoder.decode(row["body"])
        ends = promotion.conditions.valid_to
        if ends is not None and ends <= now:
            continue
        if promotion.conditions.stores and store not in promotion.conditions.stores:
            continue
        out.append(promotion)
    return sorted(out, key=lambda p: p.id)


def prepare_promotion_set(
    conn: Connection,
    signer: Signer,
    *,
    tenant: str,
    store: str,
    now: dt.datetime | None = None,
    ttl: dt.timedelta = DEFAULT_TTL,
) -> Prepared:
    """Build, sign and record the next promotion set of ``store`` (one transaction)."""
    now = now or utcnow()
    scope = store_scope(tenant, store)
    with conn.transaction():
        floor = version_floor(conn, PromotionSet.TYPE, scope)
        version = next_version(conn, PromotionSet.TYPE, scope, now=now, at_least=floor)
        promotions = store_promotions(conn, tenant, store, now)
        body = PromotionSet(mode="snapshot", base_version=None, promotions=promotions, removed=[])
        doc = make_document(
            body,
            doc_id=new_doc_id(now),
            scope=scope,
            version=version,
            issued_at=now,
            expires_at=now + ttl,
        )
        return sign_and_record(conn, signer, doc, mode="snapshot", entries=len(promotions))
