"""Live rooms in a real browser (issue 21, R64, R65): both phones' cameras
reach the proctor and the panel, and the staff's voice reaches the candidate.

A mesh of its own with the media service and a Janus instance (Debian's
janus, VideoRoom, loopback media); Chromium with a fake camera and
microphone, loopback ICE allowed and sound not muted. Two candidates, each
with a main and a secondary phone page; the proctor and two examiners in the
console. Everything below is asserted from RTCPeerConnection.getStats() in
the pages (window.__live.pcs), from Janus itself, and from the server:

- during entry and screening the proctor decodes frames from all four
  phones (inbound video framesDecoded rising for each feed); a reloaded
  phone comes back by itself with a fresh grant;
- during the first candidate's (A's) interview both examiners decode A's two
  feeds and receive nothing of the waiting candidate B (no connection for
  B's feeds; a grant for B asked as an examiner is refused, FAILED_PRECONDITION);
- A's main phone hears the proctor while the proctor speaks (inbound audio
  bytes and totalAudioEnergy rising, and a WebAudio AnalyserNode on the
  played stream reads a signal); A's secondary phone has no inbound audio;
- Janus SIGKILLed during entry: the launcher starts it again, media re-makes
  the rooms and every page re-joins by itself; the proctor decodes all four
  phones again on fresh grants within a stated bound (the time is printed);
- within 1 s of the interview's end (the end time from timing) A's rooms
  hold nobody on Janus (listparticipants: none, or "No such room" 426), and
  the examiners' framesDecoded stop rising; B stays live to the proctor.

Screenshots of the proctor's grid, the screening dialog, an examiner's view
and the phones go to $ARTIFACTS/live/. Nothing sleeps to synchronise: every
wait is a poll with a bounded timeout ("rising" is measured over a short
window).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

import candidate_day as cd
from conftest import CHROMIUM, phones
from meshkit import FORMAL, Mesh, free_ports, running, soft, wait_until
from staff_day import Desk, confirm_candidate, staff_codes

expect.set_options(timeout=20_000)
END_LIMIT_MS = 1000
# Pictures back after Janus is SIGKILLed: the bound the README states.
JANUS_REJOIN_LIMIT_S = 30
# A grant refused because the interview is not running (FAILED_PRECONDITION): the media API's status.
PRECONDITION_STATUS = 400  # FAILED_PRECONDITION, as grpc-gateway maps it (the body's code says which)
ANY_FEED = ("main", "secondary")


class LiveMesh(Mesh):
    """Two candidates in one room, a panel of three (the chief first), the
    media service and one Janus on loopback; the notice's staff turn."""

    extra_services = ("media",)
    # Staff passwords hashed fast: sign-ins in milliseconds.
    extra_args = ("--arg", "gateway=--scrypt-n", "--arg", "gateway=4096")
    timeline = {"confirmation": (10, 40), "mock": (42, 45), "formal": (48, 80),
                "publication": 900, "reading": 6, "answering_seconds": 300}

    def _adjust_mesh(self, config: dict) -> None:
        api, admin = free_ports(2)
        rtp = 42000 + (api % 80) * 200  # a range of its own, away from other Janus instances on this machine
        self.janus_api = f"http://127.0.0.1:{api}/janus"
        config["janus"] = [{"name": "janus", "api": self.janus_api, "admin": f"http://127.0.0.1:{admin}/admin",
                            "public": self.janus_api, "rtp_ports": f"{rtp}-{rtp + 199}", "ice_enforce": "lo"}]

    def _adjust_plan(self, plan: dict) -> None:
        room = plan["rooms"][0]
        room["panel"] = room["panel"][:3]
        assert room["panel"][0].get("chief"), room["panel"]
        self.panel = [p["id"] for p in room["panel"]]


@pytest.fixture(scope="module")
def live_browser(browser):
    """Chromium as the session's, plus loopback ICE (Janus offers 127.0.0.1
    candidates) and sound not muted (the proctor's voice is measured)."""
    b = browser.browser_type.launch(
        executable_path=CHROMIUM, ignore_default_args=["--mute-audio"],
        args=["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
              "--autoplay-policy=no-user-gesture-required", "--disable-dev-shm-usage"])
    yield b
    b.close()


@pytest.fixture(scope="module")
def live_mesh(live_browser, artifacts):
    m = LiveMesh(Path(tempfile.mkdtemp(prefix="live-test-")), candidates=2)
    try:
        with running(m, artifacts / "live-mesh", "live mesh"):
            if not any(l.strip().startswith("media") and " ready" in l for l in m.lines):
                pytest.fail("exam-mesh up started no media service:\n" + m.output())
            yield m
    finally:
        left_behind(m)


def janus_pids(m: Mesh) -> list[int]:
    """The Janus processes of this mesh (their command line names its data folder)."""
    mine = str(m.workdir).encode()
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"janus") and any(mine in a for a in cmd):
            out.append(int(proc.name))
    return out


def janus_pid(m: Mesh) -> int:
    return wait_until("this mesh's Janus running", lambda: (janus_pids(m) or [None])[0], timeout=30)


def left_behind(m: Mesh) -> None:
    """A Janus of this mesh still running after exam-mesh stopped: killed, and a failure."""
    pids = janus_pids(m)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not pids, f"exam-mesh stopped but its Janus (pids {pids}) still ran: killed now"


@pytest.fixture
def live_phone(live_browser, live_mesh):
    yield from phones(live_browser, live_mesh.base_url)


# -- what the pages hold: window.__live.pcs and their getStats() ---------------------

STATS_JS = """async () => {
  const out = [];
  for (const e of (window.__live ? window.__live.pcs : [])) {
    const o = {kind: e.kind, exam: e.examNumber, phone: e.phone, room: e.room, display: e.display,
               conn: e.pc.connectionState, inVideo: null, inAudio: null, outBytes: 0};
    let st;
    try { st = await e.pc.getStats(); } catch (_) { continue; }
    st.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') o.inVideo = {frames: r.framesDecoded || 0, bytes: r.bytesReceived || 0};
      if (r.type === 'inbound-rtp' && r.kind === 'audio') o.inAudio = {bytes: r.bytesReceived || 0, energy: r.totalAudioEnergy || 0,
                                                                        samples: r.totalSamplesReceived || 0};
      if (r.type === 'outbound-rtp') o.outBytes += r.bytesSent || 0;
    });
    out.push(o);
  }
  return out;
}"""


def stats(page: Page) -> list[dict]:
    return page.evaluate(STATS_JS)


def frames(page: Page, exam: str | None = None) -> dict[tuple[str, str], int]:
    """Decoded frames per (exam number, phone) over the page's subscriptions to phones."""
    out: dict[tuple[str, str], int] = {}
    for s in stats(page):
        if s["kind"] == "subscribe" and (s["display"] or "").startswith("phone:") and s["inVideo"] and (exam is None or s["exam"] == exam):
            k = (s["exam"], s["phone"])
            out[k] = out.get(k, 0) + s["inVideo"]["frames"]
    return out


def decoding(page: Page, feeds: list[tuple[str, str]], what: str, timeout: float = 30, more: int = 15) -> dict:
    """Until every feed's framesDecoded has risen by `more` over what it was
    when first seen (a fresh connection counts from its first sample)."""
    first: dict = {}

    def check():
        now = frames(page)
        for k in feeds:
            if k in now and k not in first:
                first[k] = now[k]
        return all(k in now and now[k] - first[k] >= more for k in feeds) and now
    return wait_until(what, check, timeout=timeout, every=0.3)


def ended_at(ph: cd.Phone) -> int | None:
    """When timing.interview.ended happened (server time), from what the phone was pushed."""
    ph.page.evaluate("0")  # Playwright delivers the frames received meanwhile
    for f in ph.page.ws_frames:
        try:
            m = json.loads(f)
        except (TypeError, ValueError):
            continue
        if m.get("type") == "event" and m.get("topic") == "timing.interview.ended" and m.get("atMs"):
            return int(m["atMs"])
    return None


def grants(page: Page) -> list[dict]:
    return page.evaluate("() => (window.__live && window.__live.grants || []).map(g => JSON.parse(JSON.stringify(g)))")


# -- Janus itself --------------------------------------------------------------------

class JanusProbe:
    """A plain client of Janus's HTTP API: one session, one VideoRoom handle
    (listparticipants needs no secret)."""

    def __init__(self, api: str):
        self.api = api
        self.sid = self._post(api, {"janus": "create", "transaction": self._tx()})["data"]["id"]
        self.hid = self._post(f"{api}/{self.sid}", {"janus": "attach", "plugin": "janus.plugin.videoroom",
                                                    "transaction": self._tx()})["data"]["id"]

    @staticmethod
    def _tx() -> str:
        return secrets.token_hex(6)

    @staticmethod
    def _post(url: str, body: dict) -> dict:
        r = requests.post(url, json=body, timeout=5)
        r.raise_for_status()
        return r.json()

    def participants(self, room: int) -> list[dict] | None:
        """The room's participants; None when Janus has no such room (426)."""
        m = self._post(f"{self.api}/{self.sid}/{self.hid}", {"janus": "message", "transaction": self._tx(),
                                                             "body": {"request": "listparticipants", "room": room}})
        data = m["plugindata"]["data"]
        if data.get("error_code") == 426:
            return None
        assert "participants" in data, m
        return data["participants"]

    def close(self) -> None:
        try:
            self._post(f"{self.api}/{self.sid}", {"janus": "destroy", "transaction": self._tx()})
        except Exception:  # noqa: BLE001 - a probe's session times out by itself
            pass


def check_csp(mesh: LiveMesh) -> None:
    """The pages talk to Janus's HTTP API at the grant's janusUrl: the
    gateway's CSP must let them (connect-src), or every join fails with
    'Failed to fetch' before any media flows."""
    csp = requests.get(mesh.base_url + "/", timeout=10).headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in (x.strip() for x in csp.split(";")) if d}
    allowed = directives.get("connect-src", directives.get("default-src", []))
    origin = "/".join(mesh.janus_api.split("/")[:3])
    ok = any(t in ("*", origin, origin + "/", mesh.janus_api, "http:") for t in allowed)
    assert ok, (f"the gateway's Content-Security-Policy does not let the pages reach Janus at {mesh.janus_api} "
                f"(the grant's janusUrl): connect-src {allowed}; the browser refuses every Janus call ('Failed to fetch')")


# -- the test ------------------------------------------------------------------------

def test_live_rooms(live_browser, live_mesh: LiveMesh, live_phone, artifacts: Path):
    mesh = live_mesh
    shots = artifacts / "live"
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    started = time.monotonic()
    room, proctor_id = mesh.room, mesh.proctor
    examiner_ids = mesh.panel[1:3]
    check_csp(mesh)
    plan = mesh.plan()
    codes = staff_codes(mesh, [proctor_id, *examiner_ids])
    desks: dict[str, Desk] = {}
    handsets: dict[tuple[str, str], cd.Phone] = {}
    try:
        for n in (proctor_id, *examiner_ids):
            d = desks[n] = Desk(live_browser, mesh, n, shots)
            d.ctx.grant_permissions(["microphone"], origin=mesh.base_url)
            d.sign_in_first_time(codes[n]["code"], "pw-" + secrets.token_hex(8))
        play(mesh, plan, desks, proctor_id, examiner_ids, handsets, live_phone, shots)
    except BaseException:
        for n, d in desks.items():
            try:
                d.shot(f"live-failure-{n}", full_page=True)
            except Exception:  # noqa: BLE001 - the first failure matters
                pass
        for (exam, role), ph in handsets.items():
            try:
                ph.shot(f"failure-{exam}")
            except Exception:  # noqa: BLE001
                pass
        raise
    finally:
        errors = {n: list(d.errors) for n, d in desks.items()} | {f"{e}-{r}": list(ph.page.errors) for (e, r), ph in handsets.items()}
        for d in desks.values():
            d.close()
        print(f"live test: {time.monotonic() - started:.0f} s")
    for who, errs in errors.items():
        assert not errs, f"{who}: uncaught script errors: {errs}"


def play(mesh: LiveMesh, plan: dict, desks: dict[str, Desk], proctor_id: str, examiner_ids: list[str],
         handsets: dict, live_phone, shots: Path) -> None:
    proctor = desks[proctor_id]
    examiners = [desks[e] for e in examiner_ids]
    p = proctor.page
    c1, c2 = mesh.candidates

    # 1. The proctor watches the formal sitting; the examiners see nobody yet.
    p.select_option("#board-sitting", "formal")
    expect(p.locator("#board")).to_have_attribute("data-sitting", "formal")
    for e in examiners:
        expect(e.page.locator("#panel-live")).to_have_attribute("data-state", "none")

    # 2. Both candidates confirm; each logs in on two phones and connects.
    mesh.wait_for_server_time(plan["confirmation"]["opens_ms"], "the confirmation window to open")
    for c in (c1, c2):
        confirm_candidate(mesh, c)
    for c in (c1, c2):
        for role in ("main", "secondary"):
            ph = handsets[(c.exam_number, role)] = cd.Phone(live_phone(f"{c.exam_number}-{role}"), role, shots)
            ph.login(c)
            ph.open_day("formal")

    # 3. Entry (R11, R64): each phone goes live from the moment it is in its room.
    formal = plan["formal_entry"]
    closes_in = (formal["closes_ms"] - mesh.server_ms()) / 1000
    for ph in handsets.values():
        ph.enter_when_open(closes_in + 5)
    for (exam, role), ph in handsets.items():
        expect(ph.page.locator("#live-indicator")).to_have_attribute("data-state", "live")
        expect(ph.page.locator("#live-title")).to_have_text("直播中")
        g = grants(ph.page)
        assert len(g) == 1 and g[0]["examNumber"] == exam and g[0]["phone"] == role, g
        assert [r["send"] for r in g[0]["rooms"]] == ["camera"], g
        assert [r["receive"] for r in g[0]["rooms"]] == ["staff_voice" if role == "main" else "none"], g
        wait_until(f"{exam} {role}: its camera sent", lambda ph=ph: any(s["kind"] == "publish" and s["outBytes"] > 50_000
                                                                        for s in stats(ph.page)), timeout=20)
    handsets[(c1.exam_number, "main")].page.locator("#live-indicator").screenshot(path=str(shots / "phone-live-indicator.png"))
    handsets[(c1.exam_number, "main")].shot(f"01-live-{c1.exam_number}")

    # 4. The proctor decodes all four phones (R65: every entered candidate, both phones).
    feeds = [(c.exam_number, r) for c in (c1, c2) for r in ANY_FEED]
    seen = decoding(p, feeds, "the proctor decoding all four phones", timeout=40)
    print(f"proctor decodes: {seen}")
    expect(p.locator("#live-tiles .lv-tile")).to_have_count(2)
    for c in (c1, c2):
        expect(p.locator(f'#live-tiles .lv-tile[data-exam="{c.exam_number}"]')).to_have_attribute("data-state", "live")
    wait_until("the grid's videos playing", lambda: p.evaluate(
        "() => [...document.querySelectorAll('#live-tiles video')].filter(v => v.videoWidth > 0 && !v.paused).length") == 4,
        timeout=15)
    proctor.shot("live-proctor-grid")

    # 5. Screening (R13) looking at the pictures: the dialog shows both; the frames keep coming.
    for c in (c1, c2):
        tile = p.locator(f'#live-tiles .lv-tile[data-exam="{c.exam_number}"]')
        expect(tile.locator(".lv-screen")).to_be_enabled()
        tile.locator(".lv-screen").click()
        expect(p.locator("#screen-dialog")).to_be_visible()
        wait_until("the screening dialog's two pictures", lambda: p.evaluate(
            "() => [...document.querySelectorAll('#screen-videos video')].filter(v => v.videoWidth > 0).length") == 2, timeout=10)
        if c is c1:
            p.screenshot(path=str(shots / "staff-live-screening.png"), animations="disabled")
        decoding(p, [(c.exam_number, r) for r in ANY_FEED], f"the proctor decoding {c.exam_number} while screening", timeout=15)
        p.check("#screen-identity")
        with p.expect_response(lambda r: r.url.endswith(f"/rooms/{mesh.room}/screenings")) as scr:
            p.click("#screen-submit")
        assert scr.value.status == 200 and scr.value.json()["screening"] == "passed", scr.value.text()
        expect(p.locator("#screen-dialog")).to_be_hidden()
        expect(p.locator("#screen-videos video")).to_have_count(0)

    # 6. A reload re-joins by itself with a fresh grant; the proctor sees it again.
    ph = handsets[(c2.exam_number, "main")]
    old = grants(ph.page)[0]["grantId"]
    ph.page.reload()
    expect(ph.page.locator("#live-indicator")).to_have_attribute("data-state", "live", timeout=30_000)
    new = grants(ph.page)[0]["grantId"]
    assert new != old, "the reloaded phone kept its old grant"
    decoding(p, [(c2.exam_number, "main")], "the proctor decoding the reloaded phone", timeout=30)
    print(f"reload: grant {old} -> {new}, the proctor decodes the phone again")

    # 6b. Janus SIGKILLed mid-sitting (R64, issue 21's faults): the launcher
    #     starts it again, media re-makes the rooms, and every page re-joins
    #     by itself with a fresh grant: the proctor decodes all four phones
    #     again on new connections. The time is measured and printed.
    before = {g["grantId"] for g in grants(p)}
    pid = janus_pid(mesh)
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_until("the proctor's grants for both candidates renewed", lambda: len(
        {g["examNumber"] for g in grants(p) if g["grantId"] not in before}) == 2, timeout=60, every=0.2)
    decoding(p, feeds, "the proctor decoding all four phones after Janus's restart", timeout=60, more=10)
    back = time.monotonic() - killed
    assert janus_pid(mesh) != pid, "the launcher did not start a new Janus"
    for c in (c1, c2):
        for r in ANY_FEED:
            expect(handsets[(c.exam_number, r)].page.locator("#live-indicator")).to_have_attribute("data-state", "live", timeout=30_000)
    print(f"janus SIGKILLed: the proctor decodes all four phones again {back:.1f} s later "
          f"(launcher back-off 1 s, Janus's start, media's re-sync, the pages' back-off and re-join)")
    assert back < JANUS_REJOIN_LIMIT_S, f"pictures came back {back:.1f} s after Janus's SIGKILL (bound {JANUS_REJOIN_LIMIT_S} s)"

    # 7. The draw at the entry's close; A is the first in the drawn order, B waits.
    expect(p.locator("#board")).to_have_attribute("data-drawn", "true", timeout=(closes_in + 30) * 1000)
    order = {c.exam_number: int(p.locator(f'#board-body tr[data-exam="{c.exam_number}"]').get_attribute("data-order") or 0)
             for c in (c1, c2)}
    a, b = sorted((c1, c2), key=lambda c: order[c.exam_number])
    A, B = a.exam_number, b.exam_number
    print(f"drawn order: {order}: A = {A}, B = {B}")

    # 8. A's interview: the panel sees and hears A, and nothing of B (R65).
    row = p.locator(f'#board-body tr[data-exam="{A}"]')
    expect(row.locator(".act-start")).to_be_enabled()
    with p.expect_response(lambda r: r.url.endswith(f"/rooms/{mesh.room}/interviews") and r.request.method == "POST") as st:
        row.locator(".act-start").click()
    assert st.value.status == 201, st.value.text()
    iv = st.value.json()
    assert iv["examNumber"] == A, iv
    for e in examiners:
        panel = e.page.locator("#panel-live")
        wait_until(f"{e.account}'s console showing A's interview", lambda: panel.get_attribute("data-exam") == A or (
            panel.get_attribute("data-unsupported") == "true" and pytest.fail(
                f"{e.account}'s console cannot learn who is being interviewed: GET /api/v1/staff/rooms/{mesh.room}/board is "
                f"refused to examiners and POST /api/v1/staff/media/grant without an examNumber is refused (see its console)")),
            timeout=20)
        expect(panel).to_be_visible()
        got = decoding(e.page, [(A, r) for r in ANY_FEED], f"{e.account} decoding A's two phones", timeout=30)
        print(f"{e.account} decodes: {got}")
    for e in examiners:
        mine = stats(e.page)
        assert not [s for s in mine if s["exam"] == B], f"{e.account} holds connections for the waiting candidate B: {mine}"
        assert all(s["kind"] == "subscribe" and s["exam"] == A for s in mine), mine
        refused = e.page.evaluate("""async ([exam]) => {
            const s = await (await fetch('/api/v1/staff/session', {credentials: 'same-origin'})).json();
            const r = await fetch('/api/v1/staff/media/grant', {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf}, body: JSON.stringify({examNumber: exam, sitting: 'formal'})});
            return {status: r.status, body: await r.json()}; }""", [B])
        assert refused["status"] == PRECONDITION_STATUS and refused["body"]["code"] == "FAILED_PRECONDITION", \
            f"a grant for the waiting candidate B asked as an examiner: {refused}"
        print(f"{e.account}: a grant for B -> {refused['status']} {refused['body']['message']}")
    wait_until("the examiner's videos playing", lambda: examiners[0].page.evaluate(
        "() => [...document.querySelectorAll('#panel-live video')].filter(v => v.videoWidth > 0).length") == 2, timeout=15)
    examiners[0].shot("live-examiner")

    # 9. The proctor speaks to A (R14, R65): A's main phone plays it; the secondary plays nothing.
    am, asec = handsets[(A, "main")], handsets[(A, "secondary")]
    tile = p.locator(f'#live-tiles .lv-tile[data-exam="{A}"]')
    tile.locator(".lv-talk").click()
    expect(tile).to_have_attribute("data-talk", "true")

    def voice() -> dict | None:
        got = [s for s in stats(am.page) if s["kind"] == "subscribe" and (s["display"] or "").startswith("staff:") and s["inAudio"]]
        return got[0]["inAudio"] if got else None
    v0 = wait_until("A's main phone receiving the proctor's voice", voice, timeout=20)
    v1 = wait_until("the proctor's voice flowing and heard",
                    lambda: (v := voice()) and v["bytes"] > v0["bytes"] + 2000 and v["energy"] > v0["energy"] and v, timeout=15)
    level = am.page.evaluate("""async () => {
        const a = document.getElementById('live-voice');
        if (!a.srcObject || a.paused) return {error: 'not playing', paused: a.paused};
        const ac = new AudioContext();
        const an = ac.createAnalyser();
        an.fftSize = 2048;
        ac.createMediaStreamSource(a.srcObject).connect(an);
        const buf = new Float32Array(an.fftSize);
        let peak = 0;
        const until = performance.now() + 3000;
        while (performance.now() < until && peak < 0.02) {
          await new Promise((r) => setTimeout(r, 50));
          an.getFloatTimeDomainData(buf);
          for (const x of buf) peak = Math.max(peak, Math.abs(x));
        }
        ac.close();
        return {peak};
    }""")
    print(f"A's main phone: proctor's voice {v0} -> {v1}; analyser {level}")
    assert level.get("peak", 0) > 0.01, f"the AnalyserNode on A's main phone hears nothing: {level}"
    sec_stats = stats(asec.page)
    assert not [s for s in sec_stats if s["inAudio"] or s["kind"] == "subscribe"], f"A's secondary phone receives: {sec_stats}"
    assert asec.page.evaluate("() => !document.getElementById('live-voice').srcObject"), "A's secondary phone plays something"
    proctor.shot("live-proctor-talking")
    tile.locator(".lv-talk").click()
    expect(tile).to_have_attribute("data-talk", "false")
    handsets[(A, "main")].shot(f"02-interview-{A}")

    # 10. The interview ends (answering announced, then A ends early, R17): within
    #     1 s A's rooms are empty on Janus and the panel's pictures stop.
    rooms = [r["room"] for ph in (am, asec) for g in grants(ph.page) for r in g["rooms"]]
    assert len(rooms) == 2, rooms
    mesh.wait_for_server_time(iv["readingEndsAtMs"] + 200, "the reading time to end")
    with p.expect_response(lambda r: r.url.endswith(f"/rooms/{mesh.room}/answering")) as an:
        row.locator(".act-answer").click()
    assert an.value.status == 200, an.value.text()
    expect(am.page.locator("#end-button")).to_be_visible()
    am.page.click("#end-button")
    probe = JanusProbe(mesh.janus_api)
    try:
        # Janus is watched from before the click, on a thread of its own:
        # the moment each room empties is stamped as it happens, not when
        # the page's answer reaches this process (a busy browser delays it).
        empty_at: dict = {}
        stop = threading.Event()

        def watch():
            while not stop.is_set() and len(empty_at) < len(rooms):
                for rid in rooms:
                    if rid not in empty_at and not probe.participants(rid):
                        empty_at[rid] = time.time() * 1000
                stop.wait(0.02)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with am.page.expect_response(lambda r: r.url.endswith("/sittings/formal/end")) as ended:
            am.page.click("#end-confirm")
        assert ended.value.status == 200, ended.value.text()
        wait_until("A's rooms empty on Janus", lambda: len(empty_at) == len(rooms), timeout=10, every=0.05)
        stop.set()
        watcher.join(5)
        info = mesh.examctl("timing", "Timing/GetInterview", {"exam_number": A, "sitting": FORMAL})
        assert info.get("phase") == 4 and info.get("end_reason") == "ended_early", info
        # The end's moment on the server's clock: timing's event, as pushed to A's main phone
        # (GetInterview's ends_at_ms stays the planned end after an early one).
        end_ms = wait_until("timing's interview-ended event on A's main phone", lambda: ended_at(am), timeout=10)
        offset = mesh.server_ms() - time.time() * 1000  # the server's clock minus this process's
        late = {rid: round(t + offset - end_ms) for rid, t in empty_at.items()}
        print(f"A's interview ended at {end_ms}; rooms empty on Janus after (ms): {late}")
        assert all(ms <= END_LIMIT_MS for ms in late.values()), f"A's rooms still held participants more than 1 s after the end: {late}"
        for rid in rooms:
            assert not probe.participants(rid), f"room {rid} filled again"
    finally:
        probe.close()
    for e in examiners:
        f0 = frames(e.page, A)
        time.sleep(1.0)  # a measuring window, not a synchronisation: nothing may arrive in it
        f1 = frames(e.page, A)
        grew = {k: f1[k] - f0.get(k, 0) for k in f1 if f1[k] > f0.get(k, 0)}
        assert not grew, f"{e.account} still decodes A after the end: {grew}"
        expect(e.page.locator("#panel-live")).to_have_attribute("data-state", "none", timeout=10_000)
    expect(am.page.locator("#live-indicator")).to_have_attribute("data-state", "ended")
    wait_until("A's phones holding no connection", lambda: not stats(am.page) and not stats(asec.page), timeout=10)
    am.shot(f"03-ended-{A}")
    # B waits on, still live to the proctor; A's tile is gone.
    expect(p.locator(f'#live-tiles .lv-tile[data-exam="{A}"]')).to_have_count(0)
    decoding(p, [(B, r) for r in ANY_FEED], "the proctor still decoding B", timeout=15)
    for e in examiners:
        assert not [s for s in stats(e.page) if s["exam"] == B], f"{e.account} connected to B after A's interview"
    proctor.shot("live-proctor-after")
    (shots / "grants.json").write_text(json.dumps({f"{e}-{r}": grants(ph.page) for (e, r), ph in handsets.items()}, indent=1))


def test_media_routes_match_openapi(live_mesh: LiveMesh, artifacts: Path):
    """The live rooms' four operations against the committed OpenAPI document
    on a mesh that has media and Janus (the session's mesh has none):
    generated bodies, ids and headers, with a real candidate's token; no 5xx,
    every answer one the document lists."""
    from test_schemathesis import run_schemathesis
    fuzzed = live_mesh.candidates[-1]
    r = requests.post(live_mesh.base_url + "/api/v1/session", json={"phone": fuzzed.phone, "password": fuzzed.password}, timeout=10)
    assert r.status_code == 201, r.text
    seed = os.environ.get("SCHEMATHESIS_SEED", "20261207")
    run_schemathesis(live_mesh, artifacts / "schemathesis" / "media", seed,
                     ["--header", f"Authorization: Bearer {r.json()['token']}", "--include-path-regex", "/media/"],
                     max_examples=30, timeout=180)
