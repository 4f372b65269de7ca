"""SIGTERM / SIGINT -> a stop flag, so a service drains its in-flight work and commits before exit."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_stop_handlers(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM/SIGINT (main thread only). A second signal exits at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second %s: exiting without draining", signal.Signals(signum).name)
            raise SystemExit(128 + signum)
        log.info("%s received: draining, then committing", signal.Signals(signum).name)
        stop.set()

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)


def install_async_stop_handlers(stop: asyncio.Event) -> None:
    """The asyncio flavour: set ``stop`` from the running loop on SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()

    def handler(sig: signal.Signals) -> None:
        log.info("%s received: draining, then committing", sig.name)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, handler, sig)
