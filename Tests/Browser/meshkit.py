"""What the browser tests need around the browser: a whole mesh of real
processes started by `exam-mesh up` on free loopback ports with its own data
folder, the staff's calls through `examctl`, the gateway's HTTP API, the
server's clock, and a synthetic colour ID photo.

Nothing here sleeps to let something happen: the mesh is ready when
exam-mesh says so, and conditions are polled with a bounded timeout
(`wait_until`), failing with what was last seen.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

REPO = Path(__file__).resolve().parents[2]
SERVICES = ["roster", "timing", "devices", "discipline", "scoring", "recordings", "gateway"]

# Sitting kinds and roles as examctl's JSON writes protobuf enums (numbers).
MOCK, FORMAL = 1, 2
ROLE_MAIN, ROLE_SECONDARY = 1, 2
PHASE_ENDED = 4


def bin_dir() -> Path:
    """The Swift executables: EXAM_BIN (scripts/browser-test passes
    `swift build --show-bin-path`), else the debug build."""
    return Path(os.environ.get("EXAM_BIN") or REPO / ".build" / "debug")


def pace() -> float:
    """BROWSER_TEST_PACE stretches every window of the plan (2 = twice as
    long) for slow machines; the test never depends on it being tight."""
    try:
        return max(0.5, float(os.environ.get("BROWSER_TEST_PACE", "1")))
    except ValueError:
        return 1.0


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (held together while picked, so they
    differ; another process could still take one before the mesh binds it,
    which then fails loudly at start-up, not silently)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def soft(ok: bool, what: str) -> None:
    """A check of how a page presents things that does not stop the day: a
    warning in pytest's summary, a failure with BROWSER_TEST_STRICT=1."""
    if ok:
        return
    if os.environ.get("BROWSER_TEST_STRICT") == "1":
        raise AssertionError(what)
    warnings.warn(what, stacklevel=2)
    print(f"  WARNING (page): {what}")


def wait_until(what: str, predicate: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    """Polls `predicate` until it returns something truthy; fails after
    `timeout` seconds naming `what` and the last value or error seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as e:  # noqa: BLE001 - reported if it never succeeds
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")
        time.sleep(every)


class ExamctlError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Candidate:
    exam_number: str
    name: str
    id_number: str
    phone: str

    @property
    def password(self) -> str:
        # R2: the default password is the ID number's last six characters.
        return self.id_number[-6:]


class Mesh:
    """One `exam-mesh up` with its own mesh file (free ports), data folder,
    generated roster and a short relative plan."""

    # More `exam-mesh up` arguments (e.g. "--arg", "gateway=--scrypt-n"), for a subclass.
    extra_args: tuple[str, ...] = ()
    # More members in the mesh file beside SERVICES (e.g. "media"), for a subclass.
    extra_services: tuple[str, ...] = ()

    # The plan's times, in seconds after timing's start (stretched by pace()):
    # (opens, closes) of confirmation and of the two sittings' entries, the
    # publication, the reading time. The list is imported right after "all
    # ready": roster freezes it when confirmation opens (R1, R3), so that
    # opens a few seconds later. answering_seconds is not stretched.
    timeline: dict[str, Any] = {"confirmation": (8, 30), "mock": (32, 44), "formal": (48, 60),
                                "publication": 300, "reading": 8, "answering_seconds": 90}

    def __init__(self, workdir: Path, candidates: int = 6):
        self.workdir = workdir
        self.bin = bin_dir()
        self.data = workdir / "data"
        self.mesh_file = workdir / "mesh.json"
        self.roster_file = workdir / "roster.csv"
        self.plan_file = workdir / "plan.json"
        self.count = candidates
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.log = workdir / "exam-mesh.out"
        names = SERVICES + [n for n in self.extra_services if n not in SERVICES]
        ports = free_ports(2 * len(names) + 1)
        services = {}
        for i, name in enumerate(names):
            services[name] = {"rpc": f"tcp://127.0.0.1:{ports[2 * i]}", "events": f"tcp://127.0.0.1:{ports[2 * i + 1]}"}
        services["gateway"]["http"] = f"127.0.0.1:{ports[-1]}"
        self.base_url = f"http://127.0.0.1:{ports[-1]}"
        # CurveZMQ on, as deployed (issue 16): exam-mesh up makes the keys in workdir/keys.
        self.config = {"mesh": "browser-test", "services": services, "curve": {"keys_dir": "keys"}}
        self._adjust_mesh(self.config)
        self.mesh_file.write_text(json.dumps(self.config, indent=2))
        self._write_roster_and_plan()

    # -- set-up ------------------------------------------------------------

    def _write_roster_and_plan(self) -> None:
        """A roster of a few candidates in one room and a plan whose windows
        follow each other closely (relative to timing's start): long enough
        for two phones to act in each, short enough for a quick test."""
        subprocess.run([str(self.bin / "exam-mesh"), "generate", "--count", str(self.count), "--room-size", str(self.count),
                        "--roster", str(self.roster_file), "--plan", str(self.plan_file)],
                       check=True, capture_output=True, text=True, cwd=REPO)
        text = self.roster_file.read_text(encoding="utf-8-sig")
        self.candidates = [Candidate(r["exam_number"], r["name"], r["id_number"], r["phone"])
                           for r in csv.DictReader(io.StringIO(text))]
        k = pace()
        t = self.timeline

        def at(seconds: float) -> str:
            return f"+{round(seconds * k)}s"

        plan = json.loads(self.plan_file.read_text(encoding="utf-8"))
        plan["confirmation"] = {"opens": at(t["confirmation"][0]), "closes": at(t["confirmation"][1])}
        for sitting in ("mock", "formal"):
            plan[sitting] = {"entry_opens": at(t[sitting][0]), "entry_closes": at(t[sitting][1])}
        plan["publication"] = at(t["publication"])
        # The notice's staff turn: "stop reading, start answering" is the
        # proctor's announcement (AnnounceAnswering), not automatic.
        plan["interview"] = {"reading_seconds": round(t["reading"] * k), "answering_seconds": t["answering_seconds"],
                             "answering_turn": "staff"}
        self._adjust_plan(plan)
        self.plan_file.write_text(json.dumps(plan, ensure_ascii=False, indent=2), encoding="utf-8")
        self.room = plan["rooms"][0]["id"]
        self.proctor = plan["rooms"][0]["proctors"][0]
        # What the main phone shows once the question is revealed (R14).
        self.questions = {"mock": "模拟测试题：请做一个简短的自我介绍。",
                          "formal": "正式面试题：谈谈你对社区专职工作者这一岗位的理解。"}
        self.questions_file = self.workdir / "questions.json"
        self.questions_file.write_text(json.dumps(self.questions, ensure_ascii=False), encoding="utf-8")

    def _adjust_plan(self, plan: dict) -> None:
        """More changes to the generated plan before it is written, for a subclass."""

    def _adjust_mesh(self, config: dict) -> None:
        """More entries in the mesh file before it is written (e.g. "janus"), for a subclass."""

    def members(self) -> list[str]:
        """Every member exam-mesh up starts and must say ready: the services, then the Janus instances."""
        return list(self.config["services"]) + [j["name"] for j in self.config.get("janus", [])]

    def start(self, timeout: float = 60) -> None:
        cmd = [str(self.bin / "exam-mesh"), "up", "--mesh", str(self.mesh_file), "--data", str(self.data),
               "--arg", "timing=--plan", "--arg", f"timing={self.plan_file}",
               "--arg", "gateway=--questions", "--arg", f"gateway={self.questions_file}",
               # Fast password hashing: logins in milliseconds, not seconds.
               "--arg", "roster=--scrypt-n", "--arg", "roster=4096"] + list(self.extra_args)
        # Its own process group: should exam-mesh ever hang on SIGTERM, the
        # teardown can still stop exactly the processes this test started.
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for_line(r"exam-mesh: all ready", timeout)
        for name in self.members():
            if not any(re.match(rf"\s*{re.escape(name)}\s+ready\b", line) for line in self.lines):
                raise AssertionError(f"exam-mesh said all ready without a ready line for {name}:\n" + self.output())

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        with open(self.log, "w", encoding="utf-8") as out:
            for line in self.proc.stdout:
                out.write(line)
                out.flush()
                with self.cond:
                    self.lines.append(line.rstrip("\n"))
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def output(self) -> str:
        with self.cond:
            return "\n".join(self.lines[-40:])

    def wait_for_line(self, pattern: str, timeout: float) -> str:
        """Waits for a line of exam-mesh's output matching `pattern`; fails
        at once if exam-mesh exits first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for line in self.lines[seen:]:
                    if rx.search(line):
                        return line
                seen = len(self.lines)
                if self.proc and self.proc.poll() is not None and seen == len(self.lines):
                    raise AssertionError(f"exam-mesh exited ({self.proc.returncode}) before '{pattern}':\n{self.output()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no '{pattern}' from exam-mesh within {timeout:.0f} s:\n{self.output()}")
                self.cond.wait(min(left, 0.5))

    def stop(self, timeout: float = 40) -> int | None:
        """SIGTERM, as ops would: exam-mesh stops every service, each of
        which finishes and commits what it has."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise AssertionError(f"exam-mesh did not stop within {timeout} s of SIGTERM (killed its process group)")

    def keep_logs(self, dest: Path) -> None:
        """The services' logs and exam-mesh's output, for after the run."""
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        if (self.data / "logs").is_dir():
            shutil.copytree(self.data / "logs", dest / "logs")
        if self.log.exists():
            shutil.copy(self.log, dest / "exam-mesh.out")
        for f in (self.plan_file, self.mesh_file, self.roster_file):
            shutil.copy(f, dest / f.name)

    # -- staff (examctl) ----------------------------------------------------

    def examctl(self, service: str, method: str, request: dict | None = None, actor: str | None = None,
                timeout: float = 10) -> dict:
        """A staff call; the reply as JSON (protobuf field names, enums as
        numbers), or ExamctlError with the service's code and message."""
        cmd = [str(self.bin / "examctl"), "call", "--mesh", str(self.mesh_file), service, method,
               json.dumps(request or {}, ensure_ascii=False)]
        if actor:
            cmd += ["--actor", actor]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
        if r.returncode != 0:
            m = re.search(r"([A-Z_]{4,}): (.*)", r.stderr, re.S)
            if m:
                raise ExamctlError(m.group(1), m.group(2).strip())
            raise ExamctlError("EXAMCTL", f"exit {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def import_roster(self) -> dict:
        csv_b64 = base64.b64encode(self.roster_file.read_bytes()).decode()
        return self.examctl("roster", "Roster/Import", {"csv": csv_b64, "file_name": self.roster_file.name}, actor="ops:ops",
                            timeout=60)

    def plan(self) -> dict:
        """timing's plan, resolved: absolute Unix milliseconds."""
        return self.examctl("timing", "Timing/GetPlan")

    def candidate_state(self, exam_number: str, sitting: int) -> dict:
        return self.examctl("timing", "Timing/GetCandidateState", {"exam_number": exam_number, "sitting": sitting})

    def candidate_devices(self, exam_number: str) -> dict:
        return self.examctl("devices", "Devices/GetCandidateDevices", {"exam_number": exam_number},
                            actor=f"{self.proctor}:proctor")

    # -- the gateway and its clock -------------------------------------------

    def server_ms(self) -> int:
        return requests.get(self.base_url + "/api/v1/time", timeout=5).json()["serverTimeMs"]

    def wait_for_server_time(self, ms: int, what: str, slack: float = 15) -> None:
        """Until the server's clock reaches `ms` (an exam window is a clock
        time: this waits for the clock, polling the server's own time)."""
        left = (ms - self.server_ms()) / 1000
        wait_until(what, lambda: self.server_ms() >= ms, timeout=max(0, left) + slack, every=0.1)


# -- the candidates' ID photo ---------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def id_photo_png(width: int = 480, height: int = 300) -> bytes:
    """A true-colour PNG the size of a phone's photo of an ID card: roster
    refuses (R4) anything under 20 KiB, under 300x200 or not in colour, and a
    photo byte-identical to another candidate's. Random noise over a card
    layout keeps it both large after compression and unique per run."""
    noise = os.urandom(width * height)
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter type None
        for x in range(width):
            n = noise[y * width + x] % 40
            if 24 <= x < 150 and 40 <= y < 200:          # the portrait
                r, g, b = 150, 110, 95
            elif 180 <= x < 450 and y % 40 < 12 and 40 <= y < 240:  # text lines
                r, g, b = 60, 70, 90
            else:                                          # the card's pale blue
                r, g, b = 205, 220, 235
            raw += bytes((min(255, r + n), min(255, g + n // 2), max(0, b - n)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(bytes(raw), 9)) \
        + _png_chunk(b"IEND", b"")
    assert len(png) >= 20 * 1024, f"the synthetic photo is only {len(png)} bytes"
    return png


@contextmanager
def running(m: Mesh, logs: Path, label: str = "mesh") -> Iterator[Mesh]:
    """The mesh started and its roster imported for the `with` body; then
    stopped with SIGTERM (even on failure), its logs kept in `logs`, its
    folder removed unless the mesh itself failed, and a non-zero exit of
    exam-mesh fails the caller."""
    failed = True  # the mesh itself (start, import): then its folder is kept
    code = None
    try:
        m.start()
        m.import_roster()
        print(f"\n{label} up: {m.base_url} (data {m.data})")
        failed = False
        yield m
    finally:
        try:
            code = m.stop()
        finally:
            m.keep_logs(logs)
            print(f"\n{label} stopped (exit {code}); logs in {logs}")
            if not failed:
                shutil.rmtree(m.workdir, ignore_errors=True)
    assert code == 0, f"exam-mesh exited {code} after SIGTERM:\n{m.output()}"
