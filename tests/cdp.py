"""The browser tests' driver (runner/bench/browser.py), and a skip when Chromium is absent."""

from __future__ import annotations

import pytest

from runner.bench.browser import CHROMIUM, Page, open_browser

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (.ci/run installs it); the page is unchecked",
)
__all__ = ["CHROMIUM", "Page", "needs_chromium", "open_browser"]
