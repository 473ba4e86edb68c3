"""The receipt printer: layout, ESC/POS encoding, status, transports, device and print queue.

Wiring in the till::

    printer = build("printer", settings["devices"]["printer"])
    printer.open(); printer.claim(); printer.enable()
    worker = PrintWorker(store_path, printer); worker.start()
    doc = render_sale(record, StoreInfo.from_device_config(cfg), printer.width)
    enqueue(conn, record.receipt_no, "receipt", printer.encode(doc), now); worker.wake()
"""

from edge.peripherals.printer.codepages import CODE_PAGES, CodePage, code_page
from edge.peripherals.printer.config import build
from edge.peripherals.printer.document import Align, Barcode, Document, Text
from edge.peripherals.printer.escpos_encode import drawer_kick, encode_document
from edge.peripherals.printer.layout import StoreInfo, render_refund, render_sale
from edge.peripherals.printer.network import NetworkTransport
from edge.peripherals.printer.printer import ReceiptPrinter
from edge.peripherals.printer.queue import Job, enqueue, job, pending, reprint, retry
from edge.peripherals.printer.simulated import SimulatedTransport
from edge.peripherals.printer.status import Paper, PrinterStatus
from edge.peripherals.printer.transport import SerialTransport, Transport
from edge.peripherals.printer.usb import UsbTransport
from edge.peripherals.printer.worker import PrintWorker

__all__ = [
    "CODE_PAGES",
    "Align",
    "Barcode",
    "CodePage",
    "Document",
    "Job",
    "NetworkTransport",
    "Paper",
    "PrintWorker",
    "PrinterStatus",
    "ReceiptPrinter",
    "SerialTransport",
    "SimulatedTransport",
    "StoreInfo",
    "Text",
    "Transport",
    "UsbTransport",
    "build",
    "code_page",
    "drawer_kick",
    "encode_document",
    "enqueue",
    "job",
    "pending",
    "render_refund",
    "render_sale",
    "reprint",
    "retry",
]
