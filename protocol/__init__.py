"""The wire contracts shared by the till and HQ.

Everything here is pure: no I/O, no clocks read, no threads. The till (``edge``) and the fleet
manager (``fleet``) import this package and never each other, so a change here is a change to the
contract between two programs that upgrade separately — version it.
"""

__version__ = "0.1.0"
