"""Commands: what a cashier, a manager or a device asks the till to do.

The cashier UI, ``till`` sub-commands, the HIL rig and the demo shopper all send these (as JSON
lines over the till's Unix socket); there is no other way into the domain. A command is a
request, not a fact: the till checks it against the current state and either refuses it with a
reason, changing nothing, or turns it into events.

Actions that need a manager carry ``manager_id`` and ``manager_pin``: the override is given at
the moment it is needed, by the manager standing at the till, not by a logged-in session.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class Command(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="cmd", forbid_unknown_fields=True
):
    """Base of every command."""


class ManagerApproval(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    manager_id: str
    manager_pin: str


# --- session and shift -------------------------------------------------------------------------


class Login(Command, frozen=True, tag="login"):
    cashier_id: str
    pin: str


class Logout(Command, frozen=True, tag="logout"):
    pass


class OpenShift(Command, frozen=True, tag="open_shift"):
    opening_float: int


class CashMovement(Command, frozen=True, tag="cash_movement"):
    """A cash drop, pickup or float top-up (manager)."""

    movement: Literal["drop", "pickup", "float"]
    amount: int
    approval: ManagerApproval
    reason: str | None = None


class NoSale(Command, frozen=True, tag="no_sale"):
    """Open the drawer outside a sale (manager, with a reason)."""

    approval: ManagerApproval
    reason: str


class XReport(Command, frozen=True, tag="x_report"):
    pass


class CloseShift(Command, frozen=True, tag="close_shift"):
    """The Z report: what was counted per tender kind (the till knows what to expect)."""

    counted: dict[str, int]
    approval: ManagerApproval | None = None


# --- the sale ----------------------------------------------------------------------------------


class AddItem(Command, frozen=True, tag="add_item"):
    """Add by scanned ``code`` (any barcode format), keyed ``plu`` or ``sku``.

    ``qty`` counts pieces; weighed items take their weight (grams) from ``weight_g`` (the
    scale's stable reading); open-price items need ``price``. Age-restricted items need
    ``age_confirmed``: the cashier has checked the customer's age.
    """

    code: str | None = None
    plu: str | None = None
    sku: str | None = None
    qty: int = 1
    weight_g: int | None = None
    price: int | None = None
    age_confirmed: bool = False


class ChangeQuantity(Command, frozen=True, tag="change_qty"):
    line_no: int
    qty: int


class VoidLine(Command, frozen=True, tag="void_line"):
    line_no: int


class VoidSale(Command, frozen=True, tag="void_sale"):
    approval: ManagerApproval
    reason: str


class SuspendSale(Command, frozen=True, tag="suspend"):
    pass


class ResumeSale(Command, frozen=True, tag="resume"):
    sale_id: str


class AttachMember(Command, frozen=True, tag="attach_member"):
    """Find a member by keyed-in phone number or scanned card number."""

    phone: str | None = None
    card_no: str | None = None


class EnrolMember(Command, frozen=True, tag="enrol_member"):
    phone: str
    consent_marketing: bool
    first_name: str | None = None


class ApplyCoupon(Command, frozen=True, tag="apply_coupon"):
    code: str


class Tender(Command, frozen=True, tag="tender"):
    """A payment. Cash: ``amount`` is what the customer handed over. Card and wallet: what the
    external terminal approved, with its ``reference``/``approval_code``/``masked_pan``. Stored
    value: the amount to take. Points: ``points`` to redeem (the amount follows from the rate).
    """

    kind: Literal["cash", "card", "wallet", "stored_value", "points"]
    amount: int = 0
    points: int | None = None
    reference: str | None = None
    approval_code: str | None = None
    masked_pan: str | None = None
    card_scheme: str | None = None


class Feedback(Command, frozen=True, tag="feedback"):
    """The customer's 1-5 rating of the sale just completed."""

    rating: int


# --- after the sale ----------------------------------------------------------------------------


class RefundLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    line_no: int
    qty: int


class Refund(Command, frozen=True, tag="refund"):
    """Refund lines (all when ``lines`` is empty) of a receipt, to its tender kind or cash."""

    receipt_no: str
    reason: str
    approval: ManagerApproval
    lines: tuple[RefundLine, ...] = ()
    to: Literal["original", "cash"] = "original"


class AdjustStock(Command, frozen=True, tag="adjust_stock"):
    """Receiving, a count (``qty`` is the counted level) or waste (manager)."""

    reason: Literal["receiving", "count", "waste"]
    items: dict[str, int]
    approval: ManagerApproval
    reference: str | None = None


class Status(Command, frozen=True, tag="status"):
    """Ask for the current view (what the operator screen shows)."""


AnyCommand = (
    Login
    | Logout
    | OpenShift
    | CashMovement
    | NoSale
    | XReport
    | CloseShift
    | AddItem
    | ChangeQuantity
    | VoidLine
    | VoidSale
    | SuspendSale
    | ResumeSale
    | AttachMember
    | EnrolMember
    | ApplyCoupon
    | Tender
    | Feedback
    | Refund
    | AdjustStock
    | Status
)

_decoder: msgspec.json.Decoder[AnyCommand] = msgspec.json.Decoder(AnyCommand)


def decode(data: bytes) -> AnyCommand:
    """Decode one JSON command; raises ``msgspec.ValidationError`` / ``DecodeError``."""
    return _decoder.decode(data)
