"""The checkout domain: commands become events, the sale is a pure fold of its events.

Nothing here does I/O except the till service, which commits events to the store before any
effect (display, print, drawer, outbox) is driven from them.
"""
