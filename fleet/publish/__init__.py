"""Publishing: HQ builds, signs and pushes the documents a store's tills run.

``prepare_*`` builds one document in one database transaction (version from
``document_versions``, signed with the active key, size-checked, recorded in
``published_documents``); :func:`deliver` publishes it retained at QoS 1 and stamps the record
once the broker acknowledged it. ``fleet.publish.catalog`` puts the catalog in;
``fleet.publish.rollout`` compares what was published with what each till reports running.
"""

from __future__ import annotations

from fleet.publish.catalog import (
    Catalog,
    CatalogError,
    MemberRecord,
    SettingsRecord,
    StorePrice,
    StoreRecord,
    TillSettings,
    add_phone_hash_key,
    book_adjustment,
    load_catalog,
    put_item,
    put_member,
    put_promotion,
    put_store,
    put_store_price,
    put_tax_class,
    put_till_settings,
    read_catalog,
    remove_item,
)
from fleet.publish.device_config import prepare_device_config, trusted_keys
from fleet.publish.documents import DEFAULT_TTL, Prepared, PublishError, Sender, deliver
from fleet.publish.members import prepare_member_cache
from fleet.publish.mqtt import MqttPublisher
from fleet.publish.price_book import prepare_price_book
from fleet.publish.promotions import prepare_promotion_set
from fleet.publish.rollout import Rollout, rollout_status

__all__ = [
    "DEFAULT_TTL",
    "Catalog",
    "CatalogError",
    "MemberRecord",
    "MqttPublisher",
    "Prepared",
    "PublishError",
    "Rollout",
    "Sender",
    "SettingsRecord",
    "StorePrice",
    "StoreRecord",
    "TillSettings",
    "add_phone_hash_key",
    "book_adjustment",
    "deliver",
    "load_catalog",
    "prepare_device_config",
    "prepare_member_cache",
    "prepare_price_book",
    "prepare_promotion_set",
    "put_item",
    "put_member",
    "put_promotion",
    "put_store",
    "put_store_price",
    "put_tax_class",
    "put_till_settings",
    "read_catalog",
    "remove_item",
    "rollout_status",
    "trusted_keys",
]
