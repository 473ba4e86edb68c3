"""The till's local store: one SQLite file holding everything the till knows.

Catalog and prices, promotions, the member cache, cashiers, the journal of domain events, the
outbox of uplink events, stock and settings live in one file so that a sale, its stock movement
and its uplink event commit in one transaction — or not at all.
"""
