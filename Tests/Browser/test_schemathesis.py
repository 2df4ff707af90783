"""The gateway against its own contract (R60): schemathesis generates
requests from the committed protos/http/openapi.json, valid and invalid,
and sends them to the running gateway of the session's mesh. No answer may
be a 5xx, and every answer must be one the document lists, with its content
type and schema.

The operations that need a session get a real candidate's bearer token, so
the generated bodies reach the checks behind the login. That candidate is
one nobody else in the tests uses: schemathesis may well decline for them
or change their password.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from meshkit import REPO, Mesh

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def schemathesis_command() -> list[str]:
    """The schemathesis installed beside this Python (the same environment
    as pytest's, e.g. scripts/browser-test's venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("schemathesis")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("schemathesis")
    assert found, "schemathesis is not installed (scripts/browser-test installs it)"
    return [found]


def test_gateway_matches_openapi(mesh: Mesh, artifacts: Path):
    fuzzed = mesh.candidates[-1]
    r = requests.post(mesh.base_url + "/api/v1/session", json={"phone": fuzzed.phone, "password": fuzzed.password}, timeout=10)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    report = artifacts / "schemathesis"
    report.mkdir(parents=True, exist_ok=True)
    for old in report.glob("junit-*.xml"):
        old.unlink()
    seed = os.environ.get("SCHEMATHESIS_SEED", "20221119")
    cmd = schemathesis_command() + [
        "run", str(REPO / "protos" / "http" / "openapi.json"),
        "--url", mesh.base_url,
        "--checks", CHECKS,
        "--header", f"Authorization: Bearer {token}",
        # Bounded: about 20 s here for the 14 operations.
        "--max-examples", "50",
        "--request-timeout", "10",
        "--seed", seed,
        "--generation-database", "none",
        "--report", "junit", "--report-dir", str(report),
        "--no-color",
    ]
    # Run in a scratch folder: nothing of schemathesis lands in the repository.
    with tempfile.TemporaryDirectory() as scratch:
        run = subprocess.run(cmd, cwd=scratch, capture_output=True, text=True, timeout=180)
    print(run.stdout[-6000:])
    print(run.stderr[-3000:])
    print(f"schemathesis report: {report}")
    assert run.returncode == 0, f"schemathesis failed (exit {run.returncode}, seed {seed}); see the output above"
    # Still alive and answering after the barrage.
    assert requests.get(mesh.base_url + "/api/v1/time", timeout=5).status_code == 200
