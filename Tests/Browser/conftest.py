"""Fixtures of the browser tests: one mesh of real processes for the session
(started before, stopped with SIGTERM after, even on failure), Debian's
Chromium driven by Playwright, phone-sized browser contexts, and the
artifacts folder for screenshots and the services' logs."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from meshkit import REPO, Mesh, running  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# A phone's browser: Android Chrome, so the page reports os "android" (R31).
PHONE_UA = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots and logs: $ARTIFACTS or .build/browser-artifacts (never tracked)."""
    root = Path(os.environ.get("ARTIFACTS") or REPO / ".build" / "browser-artifacts")
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def browser():
    # Imported here so that a missing Playwright fails these fixtures, not collection.
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              # A synthetic camera and microphone, allowed without a prompt;
                              # /dev/shm is small in containers.
                              args=["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                    "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def mesh(browser, artifacts):
    """The whole mesh on free ports with a fresh data folder. The browser is
    launched first: the plan's windows count from timing's start, so nothing
    slow may come between the start and the first window."""
    with running(Mesh(Path(tempfile.mkdtemp(prefix="browser-test-"))), artifacts / "mesh") as m:
        yield m


def phones(browser, base_url: str):
    """Yields a function that opens a phone (one browser context = one
    handset with its own storage) on `base_url`; closes them all after."""
    contexts = []

    def make(name: str):
        ctx = browser.new_context(
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
            user_agent=PHONE_UA, locale="zh-CN", timezone_id="Asia/Shanghai",
            permissions=["camera", "microphone"], base_url=base_url)
        contexts.append(ctx)
        page = ctx.new_page()
        page.phone_name = name
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        # What the server pushed over the phone's WebSocket, in order.
        page.ws_frames = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: page.ws_frames.append(payload)))
        page.on("console", lambda m: m.type == "error" and print(f"[{name} console] {m.text}"))
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def new_phone(browser, mesh):
    """Opens a phone on the session's mesh."""
    yield from phones(browser, mesh.base_url)
