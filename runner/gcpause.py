"""Building a million records at once: without the cyclic GC looking on.

Each of the collector's full passes walks every live object; while a
1,000,000-task manifest is expanded or its ledger replayed, those passes come
again and again and make the work several times slower. None of these
objects form cycles that need collecting, so the collector is paused while
they are made, and what they leave is moved out of its sight (`gc.freeze`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()  # the long-lived result: never scanned again
            gc.enable()
