"""The till's hardware wired to its checkout: devices from config, their input turned into
commands, the customer displays fed from the view, and the effects (receipts, drawer kicks)
carried out from the store. ``edge.checkout`` never imports this; this drives it from outside,
through the same command queue the socket clients use."""
