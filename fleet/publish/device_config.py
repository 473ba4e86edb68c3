"""A till's ``device_config``: the store's settings, HQ's keys, the phone hash keys.

``trusted_keys`` lists the public half of *every* key in HQ's key directory, so the directory is
the one place a rotation happens (``docs/architecture.md``, "Publishing", has the procedure):
a key that is there is trusted by every till that got the latest config, a key moved out of it
stops being trusted with the next config. The active key must be among them — a config that
would make tills refuse HQ's own next signature is refused here.

``phone_hash_keys`` lists the tenant's unretired keys, the active one first: the till hashes
keyed-in phone numbers with the first, and member caches are hashed with the same one.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from fleet.db import Connection, next_version
from fleet.keys import KeyStoreError, Signer, public_keys
from fleet.publish.catalog import phone_hash_keys, store_record, till_settings
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
from protocol import topics
from protocol.messages import DocScope, make_document
from protocol.messages.downlink import DeviceConfig, HashKey, TrustedKey
from protocol.signing import public_key_to_text

MAX_TRUSTED_KEYS = 8
MAX_PHONE_HASH_KEYS = 4


def trusted_keys(key_dir: Path, signer: Signer) -> list[TrustedKey]:
    """Every key in ``key_dir`` as a till trusts it; the signer's key must be one of them."""
    try:
        found = public_keys(key_dir)
    except KeyStoreError as exc:
        raise PublishError(str(exc)) from None
    if len(found) > MAX_TRUSTED_KEYS:
        raise PublishError(
            f"{key_dir} holds {len(found)} keys ({', '.join(sorted(found))}); a till trusts at "
            f"most {MAX_TRUSTED_KEYS}: retire old ones by moving their files out"
        )
    keys = [TrustedKey(key_id=kid, public_key=public_key_to_text(k)) for kid, k in found.items()]
    mine = TrustedKey(key_id=signer.key_id, public_key=signer.public_key_text)
    if mine not in keys:
        raise PublishError(
            f"the signing key {signer.key_id} is not in {key_dir}: the config would make tills "
            "refuse every later document"
        )
    return sorted(keys, key=lambda k: k.key_id)


def prepare_device_config(
    conn: Connection,
    signer: Signer,
    key_dir: Path,
    *,
    tenant: str,
    store: str,
    device: str | None = None,
    now: dt.datetime | None = None,
    ttl: dt.timedelta = DEFAULT_TTL,
) -> Prepared:
    """Build, sign and record the config of every till of ``store``, or of one ``device``."""
    now = now or utcnow()
    scope = store_scope(tenant, store)
    if device is not None:
        scope = DocScope(tenant=tenant, store=store, device=topics.validate_id(device, "device"))
    trusted = trusted_keys(key_dir, signer)
    with conn.transaction():
        shop = store_record(conn, tenant, store)
        if shop is None:
            raise PublishError(f"store {store} is not in the catalog (fleet catalog load)")
        settings = till_settings(conn, tenant, store, device)
        if settings is None:
            raise PublishError(f"no till settings for store {store} (fleet catalog load)")
        hash_keys = phone_hash_keys(conn, tenant)[:MAX_PHONE_HASH_KEYS]
        body = DeviceConfig(
            store_name=shop.name,
            store_address=settings.store_address,
            tax_id=settings.tax_id,
            receipt_footer=settings.receipt_footer,
            currency=shop.currency,
            timezone=shop.timezone,
            tax_rounding=settings.tax_rounding,
            cash_rounding=settings.cash_rounding,
            feedback_enabled=settings.feedback_enabled,
            max_discount_bp_without_manager=settings.max_discount_bp_without_manager,
            loyalty=settings.loyalty,
            trusted_keys=trusted,
            phone_hash_keys=[
                HashKey(
                    key_id=k.key_id,
                    key=base64.urlsafe_b64encode(k.secret).rstrip(b"=").decode("ascii"),
                )
                for k in hash_keys
            ],
            country_code=shop.country_code,
            status_interval_s=settings.status_interval_s,
        )
        floor = version_floor(conn, DeviceConfig.TYPE, scope)
        version = next_version(conn, DeviceConfig.TYPE, scope, now=now, at_least=floor)
        doc = make_document(
            body,
            doc_id=new_doc_id(now),
            scope=scope,
            version=version,
            issued_at=now,
            expires_at=now + ttl,
        )
        return sign_and_record(conn, signer, doc, entries=len(trusted))
