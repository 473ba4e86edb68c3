"""The till's side of the link to HQ: outbox delivery, signed downlink, status and health."""
