"""The shipped systemd units: verified by systemd-analyze, and consistent with qwsup."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qwsup.config import load
from qwsup.errors import ExitCode
from testkit import ROOT

pytestmark = pytest.mark.process  # runs systemd-analyze

UNITS = ["qwsup.service", "qwsup@.service"]
# The highest overall exposure `systemd-analyze security` may give a unit, from 0 (all
# locked down) to 10 (nothing is). README "Running under systemd" quotes it.
MAX_EXPOSURE = 2.5


def service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "systemd" / name)
    return parser["Service"]


@pytest.mark.parametrize("name", UNITS)
def test_the_unit_does_what_the_readme_says(name: str) -> None:
    unit = service(name)
    assert unit["Type"] == "notify"
    assert unit["KillMode"] == "mixed"
    assert unit["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert unit["Restart"] == "on-failure"
    assert str(int(ExitCode.CONFIG)) in unit["RestartPreventExitStatus"].split()
    graceful = load(str(ROOT / "conf" / "workers.toml")).supervisor.graceful_timeout
    assert int(unit["TimeoutStopSec"]) > graceful
    assert int(unit["WatchdogSec"]) > 0
    assert unit["NoNewPrivileges"] == "yes" and unit["PrivateTmp"] == "yes"
    assert unit["StateDirectory"].startswith("qwsup")


def systemd_analyze() -> str:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (Debian's systemd package; .ci/run installs it)"
    return analyze


def exposure(unit_file: Path) -> float:
    """The overall exposure level that `systemd-analyze security` gives a unit file."""
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager", str(unit_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", done.stdout)
    assert done.returncode == 0 and found, done.stdout + done.stderr
    return float(found[1])


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_security_rates_the_unit_2_5_or_lower(name: str) -> None:
    assert exposure(ROOT / "systemd" / name) <= MAX_EXPOSURE


def test_systemd_analyze_verifies_the_units_without_a_warning(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    qwsup = str(Path(sys.executable).with_name("qwsup"))
    for name in [*UNITS, "qwsup@demo.service"]:
        text = (ROOT / "systemd" / name.replace("@demo", "@")).read_text()
        (tmp_path / name).write_text(text.replace("/opt/qwsup/bin/qwsup", qwsup))
    done = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in ("qwsup.service", "qwsup@demo.service"))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
