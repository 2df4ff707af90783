"""One candidate's exam day in a real browser, end to end (R1-R6, R11-R18,
R30-R35, R60-R63).

Two phone-sized Chromium contexts are the candidate's two phones, against a
whole mesh of real processes (conftest.py): log in on both, upload the ID
photo and confirm on one, pick the roles, tick the checklist, enter the mock
test when its entry opens, then the formal interview: the proctor (examctl)
screens and starts it, the main phone shows the server's countdown, reveals
the question and, once the proctor announces answering, ends early through
the confirmation dialog. The secondary phone never offers reveal or end.
Then what the services recorded is read back through examctl.

Bad input goes straight to the gateway over HTTP: every refusal is a 4xx
with a JSON {code, message} and changes nothing (the state is read again).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from meshkit import FORMAL, MOCK, PHASE_ENDED, ROLE_MAIN, ROLE_SECONDARY, Candidate, Mesh, id_photo_png, soft, wait_until

expect.set_options(timeout=15_000)
MMSS = re.compile(r"^\d\d:\d\d$")


# -- the phones ------------------------------------------------------------------

class Phone:
    """One handset: a page plus the steps a candidate takes on it."""

    def __init__(self, page: Page, role: str, shots: Path):
        self.page = page
        self.role = role
        self.shots = shots

    def shot(self, step: str, full_page: bool = True) -> None:
        """The whole page, from the top (a full-page capture draws the sticky
        header where the page was scrolled to); the screen only for a dialog."""
        path = self.shots / f"{step}-{self.role}.png"
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path), full_page=full_page, animations="disabled")  # no half-faded dialog
        print(f"screenshot: {path}")

    def storage(self, key: str) -> str:
        return self.page.evaluate("k => localStorage.getItem(k)", key) or ""

    @property
    def token(self) -> str:
        return self.storage("iv.token")

    @property
    def device_id(self) -> str:
        return self.storage("iv.deviceId")

    @property
    def device_key(self) -> str:
        return self.storage("iv.deviceKey")

    def login(self, c: Candidate) -> None:
        p = self.page
        p.goto("/")
        expect(p.locator("#view-login")).to_be_visible()
        p.fill("#login-phone", c.phone)
        p.fill("#login-password", c.password)
        p.click("#login-submit")
        # Still the default password (R2): the page suggests changing it first.
        expect(p.locator("#view-password")).to_be_visible()
        p.click("#password-skip")
        expect(p.locator("#view-reg")).to_be_visible()
        expect(p.locator("#reg-exam-number")).to_have_text(c.exam_number)

    def open_day(self, sitting: str) -> None:
        """Picks this phone's role and the sitting, ticks the checklist and
        connects (registers the phone, R30, and opens its WebSocket)."""
        p = self.page
        expect(p.locator("#day-card")).to_be_visible()
        p.click(f"#role-{self.role}")
        expect(p.locator(f"#role-{self.role}")).to_have_attribute("aria-pressed", "true")
        p.select_option("#sitting-select", sitting)
        p.click("#start-day")
        expect(p.locator("#view-day")).to_be_visible()
        boxes = p.locator("#checklist .check-row:not([hidden]) .checklist-item")
        assert boxes.count() >= 8, f"{self.role}: only {boxes.count()} checklist items"
        expect(p.locator("#checklist-done")).to_be_disabled()
        for i in range(boxes.count()):
            boxes.nth(i).check()
        p.click("#checklist-done")
        expect(p.locator("#checklist-summary")).to_be_visible()
        # Connected: the server answered a clock ping over the WebSocket.
        expect(p.locator("#clock-offset")).to_contain_text("ms")
        expect(p.locator("#conn-banner")).to_be_hidden()

    def enter_when_open(self, closes_in: float) -> None:
        """The enter button opens with the window by the server's clock."""
        btn = self.page.locator("#enter-button")
        expect(btn).to_be_visible()
        expect(btn).to_be_enabled(timeout=closes_in * 1000)
        btn.click()
        expect(self.page.locator("#leave-button")).to_be_visible()
        expect(self.page.locator("#state-status")).to_have_text("已进入考场，候考中")

    def pushed_states(self) -> list[dict]:
        # Playwright's sync API delivers events (frames, requests) only
        # during its own calls: one round trip lets it catch up.
        self.page.evaluate("0")
        out = []
        for f in self.page.ws_frames:
            try:
                m = json.loads(f)
            except (TypeError, ValueError):
                continue
            if m.get("type") == "state":
                out.append(m["state"])
        return out

    def leave_and_reenter(self, mesh: Mesh, exam_number: str) -> None:
        """R18: a phone may leave its room and come back while the sitting
        runs. Leaving is the candidate's choice: the page's own re-entry
        (meant for drops) must not undo it."""
        p = self.page
        in_room = "inMainRoom" if self.role == "main" else "inSecondaryRoom"
        enters: list[str] = []
        on_request = lambda r: r.method == "POST" and r.url.endswith("/enter") and enters.append(r.url)  # noqa: E731
        p.on("request", on_request)
        pushed = len(self.pushed_states())
        with p.expect_response(lambda r: r.url.endswith("/leave")) as left:
            p.click("#leave-button")
        assert left.value.status == 200, left.value.text()
        # Settled: the push that follows the "left" event says the phone is
        # out, or the page has already gone back in.
        wait_until("the pushed state after leaving",
                   lambda: enters or any(not st[in_room] for st in self.pushed_states()[pushed:]), timeout=10)
        self.pushed_states()  # requests the page made meanwhile have been reported
        p.remove_listener("request", on_request)
        soft(not enters, f"{self.role} phone: leaving the room with #leave-button re-entered it at once by itself "
                         f"(POST {enters[0] if enters else ''}); app.js onLeave clears day.entered only after the HTTP reply, "
                         f"and the WebSocket state pushed for timing.candidate.left arrives first, so renderState's R18 "
                         f"auto re-entry fires")
        if not enters:
            st = mesh.candidate_state(exam_number, FORMAL)
            assert not st.get("in_main_room" if self.role == "main" else "in_secondary_room"), st
            expect(p.locator("#enter-button")).to_be_enabled()
            self.shot("07b-left")
            p.click("#enter-button")
        expect(p.locator("#leave-button")).to_be_visible()
        st = mesh.candidate_state(exam_number, FORMAL)
        assert st.get("in_main_room") and st.get("in_secondary_room"), st

    def raw_topics_in_log(self) -> list[str]:
        """Event list entries showing a bare topic instead of Chinese."""
        texts = self.page.locator("#event-log li").all_inner_texts()
        return [t for t in texts if re.search(r"\b(timing|devices)\.[a-z_.]+", t)]

    def save_frames(self) -> None:
        """What the server pushed to this phone, one JSON per line, for after the run."""
        path = self.shots / f"ws-{self.role}.jsonl"
        lines = [f if isinstance(f, str) else f.decode("utf-8", "replace") for f in self.page.ws_frames]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"websocket frames: {path}")

    def countdown_seconds(self) -> int:
        text = self.page.locator("#countdown").inner_text().strip()
        assert MMSS.match(text), f"{self.role}: #countdown shows '{text}', not mm:ss"
        m, s = text.split(":")
        return int(m) * 60 + int(s)


# -- the gateway over plain HTTP ---------------------------------------------------

class Api:
    def __init__(self, base: str):
        self.base = base + "/api/v1"

    def call(self, method: str, path: str, token: str | None = None, body=None, raw: bytes | None = None,
             content_type: str = "application/json") -> requests.Response:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = content_type
        return requests.request(method, self.base + path, headers=headers, data=data, timeout=15)

    def ok(self, method: str, path: str, token: str | None = None, body=None) -> dict:
        r = self.call(method, path, token, body)
        assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text[:400]}"
        return r.json()


def refused(r: requests.Response, status: int, code: str | None = None, mentions: str | None = None) -> dict:
    """A refusal as R60 wants it: the status, JSON {code, message}, a message saying what."""
    where = f"{r.request.method} {r.request.path_url}"
    assert r.status_code == status, f"{where}: expected {status}, got {r.status_code}: {r.text[:400]}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), f"{where}: Content-Type {r.headers.get('Content-Type')}"
    body = r.json()
    assert set(body) == {"code", "message"} and body["message"], f"{where}: error body {body}"
    if code:
        assert body["code"] == code, f"{where}: code {body['code']}, expected {code} ({body['message']})"
    if mentions:
        assert mentions.lower() in body["message"].lower(), f"{where}: message does not mention '{mentions}': {body['message']}"
    print(f"  refused as expected: {where} -> {r.status_code} {body['code']}: {body['message'][:110]}")
    return body


def snapshot(api: Api, mesh: Mesh, token: str, exam_number: str) -> dict:
    """What a refused request must not change: the registration, both
    sittings, the registered phones (without clocks and heartbeat data)."""
    me = api.ok("GET", "/me", token)
    sittings = {}
    for s in ("mock", "formal"):
        st = api.ok("GET", f"/sittings/{s}", token)
        iv = st.get("interview") or {}
        sittings[s] = {k: st[k] for k in ("status", "inMainRoom", "inSecondaryRoom", "screened", "screeningPassed", "position")}
        sittings[s]["interview"] = {k: iv.get(k) for k in ("phase", "startedAtMs", "endsAtMs", "questionRevealed", "endReason")}
    devices = mesh.candidate_devices(exam_number).get("devices", [])
    return {
        "me": {k: me[k] for k in ("status", "statusReason")} | {"identity": me["identity"]["status"]},
        "sittings": sittings,
        "devices": sorted((d.get("device_id"), d.get("role"), d.get("account")) for d in devices),
    }


# -- the day -----------------------------------------------------------------------

def test_candidate_day(browser, mesh: Mesh, new_phone, artifacts: Path):
    shots = artifacts / "candidate-day"
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    api = Api(mesh.base_url)
    me: Candidate = mesh.candidates[0]
    other: Candidate = mesh.candidates[1]
    plan = mesh.plan()
    main = Phone(new_phone("main"), "main", shots)
    sec = Phone(new_phone("secondary"), "secondary", shots)
    try:
        play_day(mesh, api, plan, me, other, main, sec)
    except BaseException:
        for ph in (main, sec):
            try:
                ph.shot("failure")
            except Exception:  # noqa: BLE001 - the original failure matters more
                pass
        raise
    finally:
        for ph in (main, sec):
            ph.save_frames()
    for ph in (main, sec):
        assert not ph.page.errors, f"{ph.role} phone: uncaught script errors: {ph.page.errors}"


def play_day(mesh: Mesh, api: Api, plan: dict, me: Candidate, other: Candidate, main: Phone, sec: Phone) -> None:
    confirmation, mock, formal = plan["confirmation"], plan["mock_entry"], plan["formal_entry"]

    # 1. Both phones log in (R2) before the confirmation window opens: the
    #    registration shows, confirming is not offered yet.
    for ph in (main, sec):
        ph.login(me)
    expect(main.page.locator("#reg-status")).to_have_text("待确认")
    expect(main.page.locator("#confirm-card")).to_be_hidden()
    main.shot("01-registration")

    # 2. Confirmation (R3, R4): the ID photo, then confirm, on the main phone.
    mesh.wait_for_server_time(confirmation["opens_ms"], "the confirmation window to open")
    p = main.page
    p.click("#reg-refresh")
    expect(p.locator("#confirm-card")).to_be_visible()
    expect(p.locator("#confirm-button")).to_be_disabled()
    p.set_input_files("#photo-input", files=[{"name": "idcard.png", "mimeType": "image/png", "buffer": id_photo_png()}])
    expect(p.locator("#photo-figure")).to_be_visible()
    p.click("#photo-upload")
    expect(p.locator("#photo-checks")).to_be_visible()
    # Without a face-comparison backend the photo waits for a proctor's
    # review (R4); roster's automatic checks must all have passed.
    expect(p.locator("#identity-status")).to_have_text("照片已上传，等待审核")
    identity = api.ok("GET", "/me", main.token)["identity"]
    passed = {c["name"] for c in identity["checks"] if c["passed"]}
    assert {"real_image", "file_size", "pixel_size", "colour", "not_duplicate"} <= passed, identity
    expect(p.locator("#photo-checks li.pass")).to_have_count(len(passed))
    main.shot("02-photo-uploaded")
    pending = [c["name"] for c in identity["checks"] if not c["passed"]]
    soft(p.locator("#error-notice").is_hidden() and p.locator("#photo-checks li.fail").count() == 0,
         f"after an upload that passed every automatic check and waits for review, the page shows the checks left to the "
         f"reviewer ({', '.join(pending)}) as failed (✗ 'not yet checked') and the error '照片未通过检查…': the API's "
         f"identity.checks gives them passed=false, detail 'not yet checked'")
    expect(p.locator("#confirm-button")).to_be_enabled()
    p.click("#confirm-button")
    expect(p.locator("#reg-status")).to_have_text("已确认参加面试")
    expect(p.locator("#confirm-card")).to_be_hidden()
    main.shot("03-confirmed")
    sec.page.click("#reg-refresh")
    expect(sec.page.locator("#reg-status")).to_have_text("已确认参加面试")

    # 3. The day, mock test first (R19): roles, checklist, both phones
    #    registered and connected (R30, R31); entry not open yet.
    main.open_day("mock")
    sec.open_day("mock")
    expect(main.page.locator("#day-title")).to_have_text("模拟测试 · 主机位")
    expect(sec.page.locator("#day-title")).to_have_text("模拟测试 · 副机位")
    expect(main.page.locator("#state-status")).to_have_text("等待进入考场")
    expect(main.page.locator("#enter-button")).to_be_disabled()
    main.shot("04-mock-checklist-done")
    sec.shot("04-mock-checklist-done")
    # The main phone registered first, alone, and was told it lacked the
    # secondary; once both are registered and fit, it should say so.
    try:
        expect(main.page.locator("#device-fit")).not_to_contain_text("不符合", timeout=5000)
    except AssertionError:
        soft(False, f"main phone: both phones are registered and fit (devices.fitness.changed was pushed), yet #device-fit "
                    f"still says '{main.page.locator('#device-fit').inner_text()}' from its own registration (renderFit "
                    f"runs only on registration; the reason is devices' English text)")
    for ph in (main, sec):
        raw = ph.raw_topics_in_log()
        soft(not raw, f"{ph.role} phone: the event list shows bare topics instead of Chinese: {raw} "
                      f"(gateway Texts.event has no text for them)")
    devices = mesh.candidate_devices(me.exam_number)["devices"]
    assert sorted((d["device_id"], d["role"]) for d in devices) == sorted(
        [(main.device_id, ROLE_MAIN), (sec.device_id, ROLE_SECONDARY)]), devices

    # 4. Bad input straight to the gateway, while nothing is open yet.
    bad_requests_before_entry(mesh, api, me, other, main, sec)

    # 5. Mock entry (R11, R19): both phones enter when it opens; at its close
    #    the order is drawn (R20) and the page shows the place in the queue.
    closes_in = (mock["closes_ms"] - mesh.server_ms()) / 1000
    main.enter_when_open(closes_in)
    sec.enter_when_open(closes_in)
    st = mesh.candidate_state(me.exam_number, MOCK)
    assert st.get("in_main_room") and st.get("in_secondary_room"), st
    main.shot("05-mock-entered")
    expect(main.page.locator("#queue-position")).to_have_text("第 1 位", timeout=(closes_in + 15) * 1000)
    main.shot("06-mock-drawn")

    # The proctor closes the mock room (no mock interviews in this test):
    # both phones see the sitting over, and may go back to choose the formal.
    mesh.examctl("timing", "Timing/EndRoom", {"room_id": mesh.room, "sitting": MOCK}, actor=f"{mesh.proctor}:proctor")
    for ph in (main, sec):
        expect(ph.page.locator("#state-status")).to_have_text("未参加面试")
        expect(ph.page.locator("#leave-button")).to_be_hidden()
        ph.page.click("#day-back")
        expect(ph.page.locator("#view-reg")).to_be_visible()
    st = mesh.candidate_state(me.exam_number, MOCK)
    assert st["status"] == "not_interviewed" and not st.get("in_main_room") and not st.get("in_secondary_room"), st
    main.open_day("formal")
    sec.open_day("formal")
    expect(main.page.locator("#day-title")).to_have_text("正式面试 · 主机位")
    for ph in (main, sec):
        fit = ph.page.locator("#device-fit").inner_text()
        soft("不符合" not in fit, f"{ph.role} phone: with both phones registered and fit, #device-fit still says '{fit}'")

    # 6. Formal entry (R11), the proctor's screening (R13), the draw at the
    #    close (R20), then "start, read the question" (R14).
    closes_in = (formal["closes_ms"] - mesh.server_ms()) / 1000
    main.enter_when_open(closes_in)
    sec.enter_when_open(closes_in)
    main.shot("07-formal-entered")
    sec.leave_and_reenter(mesh, me.exam_number)
    screened = mesh.examctl("timing", "Timing/RecordScreening", {
        "exam_number": me.exam_number, "sitting": FORMAL, "identity_confirmed": True,
        "checklist": [{"item": i, "passed": True} for i in range(1, 9)]}, actor=f"{mesh.proctor}:proctor")
    assert screened.get("screened") and screened.get("screening_passed"), screened
    expect(main.page.locator("#queue-position")).to_have_text("第 1 位", timeout=(closes_in + 15) * 1000)
    started = mesh.examctl("timing", "Timing/StartInterview", {"room_id": mesh.room, "sitting": FORMAL},
                           actor=f"{mesh.proctor}:proctor")
    assert started.get("exam_number") == me.exam_number, started

    # 7. The countdown (R14, R15): the server's, in mm:ss, going down; the
    #    main phone reveals the question, the secondary cannot (R14).
    for ph in (main, sec):
        expect(ph.page.locator("#interview-card")).to_be_visible()
        expect(ph.page.locator("#countdown")).to_have_text(MMSS)
        expect(ph.page.locator("#phase")).to_have_text("阅题")
    first = main.countdown_seconds()
    total = plan["reading_seconds"] + plan["answering_seconds"]
    assert 0 < first <= total, f"countdown {first} s, the interview lasts {total} s"
    wait_until("the countdown to go down", lambda: main.countdown_seconds() < first, timeout=5)
    assert abs(main.countdown_seconds() - sec.countdown_seconds()) <= 1, "the two phones disagree on the countdown"
    expect(sec.page.locator("#reveal-button")).to_be_hidden()
    expect(sec.page.locator("#end-button")).to_be_hidden()
    expect(sec.page.locator("#secondary-note")).to_be_visible()
    expect(main.page.locator("#question-panel")).to_be_hidden()
    main.shot("08-countdown")
    main.page.click("#reveal-button")
    expect(main.page.locator("#question-panel")).to_be_visible()
    expect(main.page.locator("#question-text")).to_have_text(mesh.questions["formal"])
    expect(main.page.locator("#reveal-button")).to_be_hidden()
    expect(sec.page.locator("#question-panel")).to_be_hidden()
    # The question reaches the main phone only (R14): not even the
    # secondary's state, asked or pushed, carries it.
    asked = api.ok("GET", "/sittings/formal?role=secondary", sec.token)["interview"]
    assert asked["questionRevealed"] and not asked.get("question"), asked
    assert not [st for st in sec.pushed_states() if (st.get("interview") or {}).get("question")], \
        "the secondary phone was pushed the question"
    main.shot("09-question-revealed")
    sec.shot("09-question-revealed")
    assert mesh.candidate_state(me.exam_number, FORMAL)["interview"].get("question_revealed"), "timing did not record the reveal"

    bad_requests_during_interview(mesh, api, me, other, main, sec)

    # 8. "Stop reading, start answering": the proctor's announcement once
    #    reading time is up (the plan's staff turn, R14).
    iv = mesh.candidate_state(me.exam_number, FORMAL)["interview"]
    # A second past the reading end, before the announcement: still reading.
    mesh.wait_for_server_time(iv["reading_ends_at_ms"] + 1000, "the reading time to end")
    soft(main.page.locator("#phase").inner_text() == "阅题" and main.page.locator("#end-button").is_hidden(),
         f"with the plan's staff turn, once the reading time is up but before the proctor announces answering, the main "
         f"phone shows phase '{main.page.locator('#phase').inner_text()}' and "
         f"{'offers' if main.page.locator('#end-button').is_visible() else 'does not offer'} 'end' (timing still says "
         f"reading and refuses EndInterview): app.js livePhase turns reading into answering at readingEndsAtMs by itself")
    main.shot("09b-reading-time-up")
    mesh.examctl("timing", "Timing/AnnounceAnswering", {"exam_number": me.exam_number, "sitting": FORMAL},
                 actor=f"{mesh.proctor}:proctor")
    expect(main.page.locator("#phase")).to_have_text("作答")
    expect(sec.page.locator("#phase")).to_have_text("作答")
    expect(sec.page.locator("#end-button")).to_be_hidden()

    # 8b. A reload mid-interview (R15, R18): the main phone comes back to the
    #     same interview: the countdown from the server's time (agreeing with
    #     the secondary's), the answering phase, the question, the end button.
    main.page.reload()
    expect(main.page.locator("#interview-card")).to_be_visible()
    # Reconnected (re-registered with its camera and microphone live), not "网络中断".
    expect(main.page.locator("#clock-offset")).to_contain_text("ms")
    expect(main.page.locator("#conn-banner")).to_be_hidden(timeout=10_000)
    expect(main.page.locator("#countdown")).to_have_text(MMSS)
    expect(main.page.locator("#phase")).to_have_text("作答")
    expect(main.page.locator("#question-text")).to_have_text(mesh.questions["formal"])
    expect(main.page.locator("#end-button")).to_be_visible()
    wait_until("the reloaded page's countdown to agree with the secondary's",
               lambda: abs(main.countdown_seconds() - sec.countdown_seconds()) <= 1, timeout=5)
    assert mesh.candidate_state(me.exam_number, FORMAL)["status"] == "interviewing"
    main.shot("09c-reloaded")

    # 9. End early (R17): the dialog first; cancelling keeps the interview.
    end = main.page.locator("#end-button")
    expect(end).to_be_visible()
    end.click()
    expect(main.page.locator("#end-dialog")).to_be_visible()
    main.shot("10-end-dialog", full_page=False)
    main.page.click("#end-cancel")
    expect(main.page.locator("#end-dialog")).to_be_hidden()
    expect(main.page.locator("#interview-card")).to_be_visible()
    assert mesh.candidate_state(me.exam_number, FORMAL)["status"] == "interviewing"
    end.click()
    main.page.click("#end-confirm")
    for ph in (main, sec):
        expect(ph.page.locator("#ended-panel")).to_be_visible()
        expect(ph.page.locator("#interview-card")).to_be_hidden()
        expect(ph.page.locator("#state-status")).to_have_text("面试已结束")
    expect(main.page.locator("#ended-reason")).to_contain_text("提前结束")
    # R21: the announcements reached the phone as events, in Chinese.
    log = main.page.locator("#event-log")
    expect(log).to_contain_text("开始面试")
    expect(log).to_contain_text("停止阅题，开始作答")
    expect(log).to_contain_text("已结束面试")
    for ph in (main, sec):
        raw = ph.raw_topics_in_log()
        soft(not raw, f"{ph.role} phone: the event list shows bare topics instead of Chinese: {raw} "
                      f"(gateway Texts.event has no text for them)")
    main.shot("11-ended")
    sec.shot("11-ended")

    # 10. What the services recorded.
    st = mesh.candidate_state(me.exam_number, FORMAL)
    assert st["status"] == "interviewed", st
    assert st["interview"]["end_reason"] == "ended_early", st
    assert st["interview"]["phase"] == PHASE_ENDED, st
    assert st["interview"]["ends_at_ms"] > mesh.server_ms(), "ended early means time was left"
    devices = mesh.candidate_devices(me.exam_number)["devices"]
    assert sorted((d["device_id"], d["role"]) for d in devices) == sorted(
        [(main.device_id, ROLE_MAIN), (sec.device_id, ROLE_SECONDARY)]), devices
    assert len({d["account"] for d in devices}) == 2, f"the two phones must use two accounts (R30): {devices}"

    # R18: once the countdown is over, re-entry is refused, and nothing changes.
    before = snapshot(api, mesh, main.token, me.exam_number)
    refused(api.call("POST", "/sittings/formal/enter", main.token, {"role": "main", "deviceId": main.device_id}), 400,
            "OUT_OF_RANGE")
    assert snapshot(api, mesh, main.token, me.exam_number) == before


def bad_requests_before_entry(mesh: Mesh, api: Api, me: Candidate, other: Candidate, main: Phone, sec: Phone) -> None:
    token = main.token
    before = snapshot(api, mesh, token, me.exam_number)

    def unchanged(what: str) -> None:
        after = snapshot(api, mesh, token, me.exam_number)
        assert after == before, f"{what} changed the state:\nbefore {before}\nafter  {after}"

    status = {"cameraOn": True, "camera": "front", "microphoneOn": True, "speakerVolume": 50, "batteryPercent": 90,
              "network": "wifi", "inForeground": True, "autoLockOff": True, "clientVersion": "web-1", "os": "android",
              "osVersion": "13"}

    # Malformed JSON.
    refused(api.call("POST", "/session", raw=b'{"phone": "1380000', content_type="application/json"), 400,
            "INVALID_ARGUMENT", "JSON")
    refused(api.call("POST", "/sittings/mock/enter", token, raw=b'{"role": "main", "deviceId": '), 400, "INVALID_ARGUMENT")
    unchanged("malformed JSON")

    # Wrong types and values.
    refused(api.call("POST", "/devices", token, {"role": "main", "deviceId": 12345, "account": "web-x", "status": status}),
            400, "INVALID_ARGUMENT", "deviceId")
    refused(api.call("POST", "/devices", token, {"role": "driver", "deviceId": "web-zz", "account": "web-x", "status": status}),
            400, "INVALID_ARGUMENT")
    refused(api.call("POST", "/devices", token, {"role": "main", "deviceId": main.device_id, "account": "web-x",
                                                 "status": status | {"batteryPercent": 140}}), 400, "INVALID_ARGUMENT", "battery")
    refused(api.call("POST", "/me/decline", token, {"giveUpPost": "yes"}), 400, "INVALID_ARGUMENT", "giveUpPost")
    refused(api.call("POST", "/me/decline", token, {"giveUpPost": False}), 400, "INVALID_ARGUMENT", "giveUpPost")
    refused(api.call("POST", "/sittings/mock/enter", token, {"role": "main", "deviceId": main.device_id},
                     content_type="text/plain"), 400, "INVALID_ARGUMENT", "Content-Type")
    unchanged("wrong types")

    # Oversized bodies (R63): 413 before anything reaches the mesh.
    refused(api.call("POST", "/devices", token, {"role": "main", "deviceId": main.device_id, "account": "a" * 40_000,
                                                 "status": status}), 413, "RESOURCE_EXHAUSTED")
    refused(api.call("PUT", "/me/photo", token, raw=b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024 + 1),
                     content_type="image/jpeg"), 413, "RESOURCE_EXHAUSTED")
    unchanged("oversized bodies")

    # No session, and another candidate's session with this candidate's phone.
    refused(api.call("GET", "/me"), 401, "UNAUTHENTICATED")
    refused(api.call("GET", "/me", "not-a-token"), 401, "UNAUTHENTICATED")
    other_token = api.ok("POST", "/session", body={"phone": other.phone, "password": other.password})["token"]
    refused(api.call("POST", f"/devices/{main.device_id}/status", other_token, {"deviceKey": main.device_key, "status": status}),
            403, "PERMISSION_DENIED")
    refused(api.call("POST", "/sittings/mock/reveal", other_token, {"deviceId": main.device_id}), 403, "PERMISSION_DENIED")
    # The secondary phone may not reveal the question (R14).
    refused(api.call("POST", "/sittings/mock/reveal", token, {"deviceId": sec.device_id}), 403, "PERMISSION_DENIED")
    unchanged("someone else's session or the wrong phone")

    # A third phone as main (R30: exactly two).
    refused(api.call("POST", "/devices", token, {"role": "main", "deviceId": "web-third-phone-01", "account": "web-third-account",
                                                 "status": status}), 409)
    # Entering before the entry window opens (R11): the formal one, the
    # farthest away, so a slow machine does not turn this into a real entry.
    refused(api.call("POST", "/sittings/formal/enter", token, {"role": "main", "deviceId": main.device_id}), 400,
            "OUT_OF_RANGE", "not opened")
    refused(api.call("POST", "/sittings/formal/enter", token, {"role": "secondary", "deviceId": sec.device_id}), 400,
            "OUT_OF_RANGE")
    unchanged("a third phone or an early entry")


def bad_requests_during_interview(mesh: Mesh, api: Api, me: Candidate, other: Candidate, main: Phone, sec: Phone) -> None:
    token = main.token
    before = snapshot(api, mesh, token, me.exam_number)
    refused(api.call("POST", "/sittings/formal/reveal", sec.token, {"deviceId": sec.device_id}), 403, "PERMISSION_DENIED")
    refused(api.call("POST", "/sittings/formal/end", sec.token, {"deviceId": sec.device_id, "confirm": True}), 403,
            "PERMISSION_DENIED")
    other_token = api.ok("POST", "/session", body={"phone": other.phone, "password": other.password})["token"]
    refused(api.call("POST", "/sittings/formal/end", other_token, {"deviceId": main.device_id, "confirm": True}), 403,
            "PERMISSION_DENIED")
    # Ending needs the explicit confirmation (R17), and only while answering.
    refused(api.call("POST", "/sittings/formal/end", token, {"deviceId": main.device_id}), 400, "INVALID_ARGUMENT", "confirm")
    refused(api.call("POST", "/sittings/formal/end", token, {"deviceId": main.device_id, "confirm": True}), 400,
            "FAILED_PRECONDITION", "answering")
    after = snapshot(api, mesh, token, me.exam_number)
    assert after == before, f"refused requests changed the interview:\nbefore {before}\nafter  {after}"
