"""Logins in a queue (issue 22), in a real browser against the session's mesh.

On a formal morning thousands of phones log in within the entry window;
roster hashes a few passwords at a time and tells the rest to come back
(429 RESOURCE_EXHAUSTED with Retry-After; the Swift tests and the login
benchmark drive that on the real services). Here the page's side: told to
wait, it shows 排队登录中 with the seconds left, never an error, waits at
least Retry-After (plus jitter) and tries again by itself until it is in.
The first two answers are made 429 by Playwright; the third reaches the
real gateway and roster, and the session is then checked on the server.
Logging out ends the session on roster too (sessions last the exam day).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests
from playwright.sync_api import expect

from meshkit import Candidate, Mesh, wait_until

expect.set_options(timeout=20_000)


def test_a_queued_login_waits_and_retries_by_itself(new_phone, mesh: Mesh, artifacts: Path):
    shots = artifacts / "login-queue"
    shots.mkdir(parents=True, exist_ok=True)
    # Not the last one: test_schemathesis.py fuzzes with that one's session.
    me: Candidate = mesh.candidates[-2]
    page = new_phone("queue")
    sent: list[float] = []
    queued = {"left": 2}

    def on_session(route):
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append(time.monotonic())
        if queued["left"] > 0:
            queued["left"] -= 1
            route.fulfill(status=429, headers={"Retry-After": "1", "Content-Type": "application/json"},
                          body=json.dumps({"code": "RESOURCE_EXHAUSTED", "message": "登录人数较多，正在排队，请约 1 秒后重试 (R2)"}))
        else:
            route.continue_()

    page.route("**/api/v1/session", on_session)
    page.goto("/")
    expect(page.locator("#view-login")).to_be_visible()
    page.fill("#login-phone", me.phone)
    page.fill("#login-password", me.password)
    page.click("#login-submit")
    # Queued: said plainly, the button counts down, no error.
    expect(page.locator("#login-submit")).to_contain_text("排队登录中")
    expect(page.locator("#info-notice")).to_contain_text("排队登录中")
    expect(page.locator("#error-notice")).to_be_hidden()
    page.screenshot(path=str(shots / "01-queued.png"))
    # In by itself: the default password is suggested to be changed (R2).
    expect(page.locator("#view-password")).to_be_visible()
    assert len(sent) == 3, f"{len(sent)} login requests"
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    # Retry-After 1 s, plus up to half again at random.
    assert all(0.95 <= g <= 4 for g in gaps), f"gaps {gaps}"
    expect(page.locator("#login-submit")).to_have_text("登 录")
    page.click("#password-skip")
    expect(page.locator("#view-reg")).to_be_visible()
    expect(page.locator("#reg-exam-number")).to_have_text(me.exam_number)

    # The session is the server's: roster knows it.
    token = page.evaluate("() => localStorage.getItem('iv.token')")
    assert token, "no token stored"
    me_url = mesh.base_url + "/api/v1/me"
    r = requests.get(me_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200 and r.json()["examNumber"] == me.exam_number, r.text

    # Logging out ends it on roster, not only on the page.
    with page.expect_request(lambda q: q.url.endswith("/api/v1/session") and q.method == "DELETE"):
        page.click("#logout-button")
    expect(page.locator("#view-login")).to_be_visible()

    # The gateway believes a checked token a few seconds (sessionCacheSeconds)
    # unless it ended the session itself, as here: at once.
    wait_until("the token refused after logging out",
               lambda: requests.get(me_url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 401, 10)
    assert not page.errors, f"uncaught script errors: {page.errors}"
