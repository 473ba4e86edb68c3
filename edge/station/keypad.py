"""The cashier's keypad on the I/O board: keys become checkout commands.

A POS keypad works on an entry buffer: digits are keyed, then a function key says what they
are. Pure (``Keypad.key`` returns the command, if any), so every sequence is testable without
the board; the router puts the commands on the checkout's queue in order.

    digits, 00   add to the entry (at most 14 digits)
    CLEAR        empty the entry (and a pending quantity)
    QTY          the entry is the quantity of the next item
    PLU          the entry is a PLU (loose produce takes the scale's weight)
    ENTER        the entry is a barcode when it has 8, 12, 13 or 14 digits, else a PLU
    CASH         cash tendered: the entry in minor units, or the exact amount due when empty
    VOID         void line number <entry>
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.checkout import commands as cmd

MAX_ENTRY = 14
_GTIN_LENGTHS = (8, 12, 13, 14)


@dataclass
class Keypad:
    entry: str = ""
    qty: int = 1
    ignored: int = field(default=0)

    def key(self, name: str, due: int | None = None) -> cmd.Command | None:
        """Apply one key press; ``due`` is the amount still owed (for CASH with no entry)."""
        if name.isdigit():
            if len(self.entry) + len(name) <= MAX_ENTRY:
                self.entry += name
            else:
                self.ignored += 1
            return None
        entry, self.entry = self.entry, ""
        if name == "CLEAR":
            self.qty = 1
            return None
        if name == "QTY":
            if entry and 1 <= int(entry) <= 999:
                self.qty = int(entry)
            else:
                self.ignored += 1
            return None
        if name in ("PLU", "ENTER"):
            if not entry:
                self.ignored += 1
                return None
            qty, self.qty = self.qty, 1
            if name == "ENTER" and len(entry) in _GTIN_LENGTHS:
                return cmd.AddItem(code=entry, qty=qty)
            return cmd.AddItem(plu=entry.lstrip("0") or "0", qty=qty)
        if name == "CASH":
            amount = int(entry) if entry else due
            if amount is None or amount <= 0:
                self.ignored += 1
                return None
            return cmd.Tender(kind="cash", amount=amount)
        if name == "VOID":
            if not entry:
                self.ignored += 1
                return None
            return cmd.VoidLine(line_no=int(entry))
        self.ignored += 1  # TOTAL, MEMBER, NOSALE: the operator screen's job for now
        return None
