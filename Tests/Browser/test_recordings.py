"""Recordings in a real browser (issue 14, R36-R39): both phones of a
candidate record their cameras with MediaRecorder during a short formal
interview and upload the slices through the gateway as they come; one phone
loses its network mid-interview (Playwright's offline mode) and resumes.

Afterwards, from the services (examctl, as ops): both recordings finished,
their chunks contiguous (indices 0..n-1, offsets adding up), exactly the
slices each page made (no duplicate, no loss), the interview complete (R38);
exported, each WebM is read by ffprobe with a duration within 2 s of the
interview's. Bad chunks sent straight to the gateway during the interview
are refused with a clear error and none is stored.

A mesh of its own (the plan's windows are counted from timing's start):
two candidates, the automatic answering turn, an interview of ~22 s, a
grace of 8 s before recordings' completeness check. Nothing sleeps to
synchronise: every wait is a poll with a timeout.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

import candidate_day as cd
from conftest import phones
from meshkit import FORMAL, ROLE_MAIN, ROLE_SECONDARY, Candidate, Mesh, id_photo_png, running, wait_until

expect.set_options(timeout=15_000)
DURATION_SLACK_S = 2.0


class RecordingMesh(Mesh):
    timeline = {"confirmation": (8, 20), "mock": (22, 24), "formal": (26, 38),
                "publication": 900, "reading": 6, "answering_seconds": 16}
    extra_args = ("--arg", "recordings=--grace", "--arg", "recordings=8")

    def _adjust_plan(self, plan: dict) -> None:
        # The interview ends by itself when its time is up (reading, then answering).
        plan["interview"]["answering_turn"] = "automatic"


@pytest.fixture(scope="module")
def rec_mesh(browser, artifacts):
    with running(RecordingMesh(Path(tempfile.mkdtemp(prefix="recordings-test-")), candidates=2), artifacts / "recordings-mesh",
                 "recordings mesh") as m:
        yield m


@pytest.fixture
def rec_phone(browser, rec_mesh):
    """A phone (one browser context) on this test's own mesh."""
    yield from phones(browser, rec_mesh.base_url)


def confirm(mesh: Mesh, c: Candidate) -> None:
    base = mesh.base_url + "/api/v1"
    r = requests.post(base + "/session", json={"phone": c.phone, "password": c.password}, timeout=15)
    assert r.status_code == 201, r.text
    h = {"Authorization": "Bearer " + r.json()["token"]}
    r = requests.put(base + "/me/photo", data=id_photo_png(), headers=h | {"Content-Type": "image/png"}, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.post(base + "/me/confirm", json={}, headers=h, timeout=15)
    assert r.status_code == 200, r.text


def indicator(ph: cd.Phone) -> dict:
    return ph.page.locator("#rec-indicator").evaluate(
        "e => ({hidden: e.hidden, state: e.dataset.state, pending: +e.dataset.pending || 0, uploaded: +e.dataset.uploaded || 0,"
        " text: e.innerText})")


def last_packet_seconds(path: Path) -> float:
    """MediaRecorder's WebM has no Duration element: its length is the last
    packet's time (NOTES-toolchain.md)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time", "-of", "csv=p=0",
                          str(path)], capture_output=True, text=True, check=True, timeout=60).stdout
    times = [float(x) for x in out.split() if x.strip() and x.strip() != "N/A"]
    assert times, f"ffprobe found no video packets in {path}"
    return max(times)


def test_both_phones_record_and_a_dropped_phone_resumes(browser, rec_mesh: RecordingMesh, rec_phone, artifacts: Path):
    assert shutil.which("ffprobe"), "ffprobe is missing: scripts/setup installs Debian's ffmpeg"
    mesh = rec_mesh
    shots = artifacts / "recordings"
    shots.mkdir(parents=True, exist_ok=True)
    me, other = mesh.candidates[0], mesh.candidates[1]
    plan = mesh.plan()
    mesh.wait_for_server_time(plan["confirmation"]["opens_ms"], "the confirmation window to open")
    confirm(mesh, me)
    confirm(mesh, other)

    def page(name: str) -> cd.Phone:
        # A phone that is told to go offline keeps its page: Playwright's
        # offline mode is per context (one context = one handset).
        return cd.Phone(rec_phone(name), name, shots)

    main, sec = page("main"), page("secondary")
    try:
        for ph in (main, sec):
            ph.login(me)
            ph.open_day("formal")
        formal = plan["formal_entry"]
        closes_in = (formal["closes_ms"] - mesh.server_ms()) / 1000
        main.enter_when_open(closes_in + 5)
        sec.enter_when_open(closes_in + 5)
        screened = mesh.examctl("timing", "Timing/RecordScreening", {
            "exam_number": me.exam_number, "sitting": FORMAL, "identity_confirmed": True,
            "checklist": [{"item": i, "passed": True} for i in range(1, 9)]}, actor=f"{mesh.proctor}:proctor")
        assert screened.get("screening_passed"), screened
        expect(main.page.locator("#queue-position")).to_have_text("第 1 位", timeout=(closes_in + 15) * 1000)
        started = mesh.examctl("timing", "Timing/StartInterview", {"room_id": mesh.room, "sitting": FORMAL},
                               actor=f"{mesh.proctor}:proctor")
        assert started.get("exam_number") == me.exam_number, started

        # Both phones record from the start and upload slice after slice.
        for ph in (main, sec):
            expect(ph.page.locator("#rec-indicator")).to_be_visible()
            wait_until(f"{ph.role}: two slices uploaded", lambda ph=ph: indicator(ph)["uploaded"] >= 2, timeout=15)
        expect(main.page.locator("#rec-title")).to_have_text("录像中")
        main.page.locator("#rec-indicator").screenshot(path=str(shots / "rec-indicator-recording.png"))
        main.shot("rec-01-recording")

        bad_chunks(mesh, me, other, main, sec)

        # The secondary loses its network: slices wait in its outbox...
        sec.page.context.set_offline(True)
        wait_until("the offline secondary to keep two slices", lambda: indicator(sec)["pending"] >= 2, timeout=15)
        expect(sec.page.locator("#rec-indicator")).to_have_attribute("data-state", "uploading")
        sec.page.locator("#rec-indicator").screenshot(path=str(shots / "rec-indicator-offline.png"))
        sec.shot("rec-02-offline")
        held = indicator(sec)["pending"]
        # ...and go once it is back, from where the server's copy ends.
        sec.page.context.set_offline(False)
        wait_until("the secondary's outbox to drain", lambda: indicator(sec)["pending"] <= 1, timeout=20)
        print(f"secondary: {held} slices held offline, resent after the drop")

        # The interview ends when its time is up; the last slices go, final.
        st = mesh.candidate_state(me.exam_number, FORMAL)
        ends = st["interview"]["ends_at_ms"]
        mesh.wait_for_server_time(ends, "the interview's time to be up", slack=20)
        for ph in (main, sec):
            expect(ph.page.locator("#rec-indicator")).to_have_attribute("data-state", "done", timeout=30_000)
            expect(ph.page.locator("#rec-title")).to_have_text("录像已全部上传")
        main.page.locator("#rec-indicator").screenshot(path=str(shots / "rec-indicator-done.png"))
        main.shot("rec-03-done")
        slices = {ph.role: ph.page.evaluate("() => +document.getElementById('rec-indicator').dataset.uploaded") for ph in (main, sec)}
    except BaseException:
        for ph in (main, sec):
            try:
                ph.page.context.set_offline(False)
                ph.shot("rec-failure")
            except Exception:  # noqa: BLE001 - the original failure matters more
                pass
        raise

    # What recordings stored (ops through the mesh).
    def listed():
        return mesh.examctl("recordings", "Recordings/ListRecordings", {"exam_number": me.exam_number, "sitting": FORMAL},
                            actor="ops:ops")
    rec = wait_until("the completeness check to find the interview complete",
                     lambda: (r := listed()).get("completeness", {}).get("status") == 2 and r, timeout=40)
    views = rec["recordings"]
    assert [v["role"] for v in views] == [ROLE_MAIN, ROLE_SECONDARY], views
    for v, role in zip(views, ("main", "secondary")):
        chunks = v["chunk_list"]
        assert v.get("finished"), f"{role}: not finished: {v}"
        assert [c.get("index", 0) for c in chunks] == list(range(len(chunks))), f"{role}: chunk indices not contiguous"
        offset = 0
        for c in chunks:
            assert int(c.get("offset", 0)) == offset, f"{role}: chunk {c.get('index', 0)} at offset {c.get('offset')}, expected {offset}"
            offset += int(c["byte_count"])
        assert int(v["bytes"]) == offset
        # Exactly the slices the page made and had acknowledged: none twice, none lost.
        assert len(chunks) == int(v["chunks"]) == slices[role], f"{role}: {len(chunks)} chunks stored, the page sent {slices[role]}"
        assert len({c["sha256"] for c in chunks}) == len(chunks), f"{role}: the same bytes stored twice"
    stats = mesh.examctl("recordings", "Node/Stats", {}, actor="ops:ops")
    counters = {c["name"]: int(c.get("value", 0)) for c in stats.get("counters", [])}
    assert counters.get("recordings.chunks_stored", 0) == sum(slices.values()), counters
    print(f"recordings: {counters}")

    # The exported files play: ffprobe's duration within 2 s of the interview's.
    c = rec["completeness"]
    interview_s = (int(c["interview_ended_at_ms"]) - int(c["interview_started_at_ms"])) / 1000
    folder = Path(tempfile.mkdtemp(prefix="recordings-export-")) / "out"
    exported = mesh.examctl("recordings", "Recordings/Export", {"exam_number": me.exam_number, "sitting": FORMAL,
                                                                 "folder": str(folder)}, actor="ops:ops", timeout=60)
    files = {f.get("role", 0): f for f in exported["files"]}
    for role, name in ((ROLE_MAIN, "main"), (ROLE_SECONDARY, "secondary")):
        path = Path(files[role]["path"])
        data = path.read_bytes()
        assert len(data) == int(views[role - 1]["bytes"]), f"{name}: exported {len(data)} bytes, stored {views[role - 1]['bytes']}"
        assert hashlib.sha256(data).hexdigest() == files[role]["sha256"], f"{name}: exported bytes differ from the manifest"
        seconds = last_packet_seconds(path)
        print(f"{name}: {path.stat().st_size} bytes, ffprobe {seconds:.2f} s, interview {interview_s:.2f} s")
        shutil.copy(path, shots / f"{name}.webm")
        assert abs(seconds - interview_s) <= DURATION_SLACK_S, \
            f"{name}: ffprobe reads {seconds:.2f} s, the interview lasted {interview_s:.2f} s"
    shutil.rmtree(folder.parent, ignore_errors=True)
    for ph in (main, sec):
        assert not ph.page.errors, f"{ph.role} phone: uncaught script errors: {ph.page.errors}"


def bad_chunks(mesh: Mesh, me: Candidate, other: Candidate, main: cd.Phone, sec: cd.Phone) -> None:
    """Bad chunks straight to the gateway while both phones record: each a
    clear error, none stored (the final chunk lists are checked to be
    exactly the pages' slices)."""
    base = mesh.base_url + "/api/v1"
    rid = f"{me.exam_number}-formal-main"

    def phone(ph: cd.Phone, token: str | None = None) -> dict:
        return {"Authorization": "Bearer " + (token or ph.token), "X-Device-Id": ph.device_id, "X-Device-Key": ph.device_key}

    state = requests.get(f"{base}/recordings/{rid}/upload", headers=phone(main), timeout=10)
    assert state.status_code == 200, state.text
    nxt = state.json()
    data = b"not a video" * 100
    sha = hashlib.sha256(data).hexdigest()
    now = mesh.server_ms()

    def chunk(ph: cd.Phone, index: int, offset: int, body: bytes = data, digest: str = sha, token: str | None = None,
              recording: str = rid) -> requests.Response:
        h = phone(ph, token) | {"Content-Type": "application/offset+octet-stream", "Upload-Index": str(index),
                                "Upload-Offset": str(offset), "Upload-Checksum": "sha256 " + digest,
                                "Media-Start": str(now), "Media-End": str(now + 1000)}
        return requests.patch(f"{base}/recordings/{recording}", data=body, headers=h, timeout=15)

    def refused(r: requests.Response, status: int, code: str, mentions: str) -> None:
        assert r.status_code == status, f"{r.status_code} {r.text}"
        body = r.json()
        assert body["code"] == code and mentions in body["message"], body

    far = nxt["nextIndex"] + 50
    refused(chunk(main, far, nxt["nextOffset"]), 409, "OUT_OF_RANGE", "out of order")
    refused(chunk(main, far, nxt["nextOffset"], digest="0" * 64), 400, "INVALID_ARGUMENT", "nothing kept")
    refused(chunk(main, far, nxt["nextOffset"], body=b"\0" * (1_048_576 + 1)), 413, "RESOURCE_EXHAUSTED", "1 MiB")
    # The secondary phone's credentials on the main phone's recording.
    refused(chunk(sec, far, nxt["nextOffset"]), 403, "PERMISSION_DENIED", "")
    # Another candidate's session on this candidate's recording.
    r = requests.post(base + "/session", json={"phone": other.phone, "password": other.password}, timeout=15)
    refused(chunk(main, far, nxt["nextOffset"], token=r.json()["token"]), 403, "PERMISSION_DENIED", me.exam_number)
    # No interview running in the mock sitting.
    r = requests.post(f"{base}/sittings/mock/recording", json={"mimeType": "video/webm"}, headers=phone(main), timeout=10)
    assert r.status_code == 400 and r.json()["code"] == "FAILED_PRECONDITION", r.text
    listed = mesh.examctl("recordings", "Recordings/ListRecordings", {"exam_number": me.exam_number, "sitting": FORMAL},
                          actor="ops:ops")
    assert all(c["sha256"] != sha for v in listed["recordings"] for c in v.get("chunk_list", [])), "a refused chunk was stored"
    print("bad chunks: out of order 409, wrong hash 400, oversized 413, the other phone 403, another candidate 403, "
          "no interview 400; none stored")
