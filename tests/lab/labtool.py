"""Helpers for the lab integration tests (tests/lab/*_test.py).

Tests run as root from the root namespace; every client runs inside a lab
namespace through `scripts/lab exec`, so traffic never leaves the lab.
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SMTPGW_BUILD", os.path.join(ROOT, "build", "release"))
LAB = os.path.join(ROOT, "scripts", "lab")
CLI = os.path.join(BUILD, "controlplane", "smtpgw-cli")
PY = "/usr/bin/python3"


def run(args, check=True, timeout=120, **kw):
    env = dict(os.environ, SMTPGW_BUILD=BUILD)
    return subprocess.run(args, check=check, timeout=timeout, capture_output=True, text=True,
                          env=env, **kw)


def lab_exec(where, args, **kw):
    return run([LAB, "exec", where] + list(args), **kw)


def cli(*words, check=True):
    r = run([CLI] + list(words), check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"smtpgw-cli {' '.join(words)} failed ({r.returncode}): {r.stderr}")
    return r


def drop_counters():
    """{reason: count} for every drop reason, from `show stats all`."""
    out = cli("show", "stats", "all").stdout
    counters = {}
    for line in out.splitlines():
        m = re.match(r"^\s+([a-z0-9_]+)\s+(info|warn|error)\s+(\d+)\s", line)
        if m:
            counters[m.group(1)] = int(m.group(3))
    if not counters:
        raise AssertionError("no drop counters in `show stats all`:\n" + out)
    return counters


def port_mac(role):
    out = cli("show", "interfaces").stdout
    current = None
    for line in out.splitlines():
        if line.startswith(role + " "):
            current = role
        elif line and not line.startswith(" "):
            current = None
        m = re.match(r"^\s+mac\s+([0-9a-f:]{17})", line)
        if m and current == role:
            return m.group(1)
    raise AssertionError(f"no MAC for port {role} in:\n{out}")


def ping(where, address, count=3, interval=None):
    args = ["ping", "-n", "-c", str(count), "-W", "2"]
    if interval:
        args += ["-i", str(interval)]
    return lab_exec(where, args + [address], check=False, timeout=60)


def ping_loss(output):
    m = re.search(r"(\d+) packets transmitted, (\d+) received", output)
    if not m:
        raise AssertionError("unparseable ping output:\n" + output)
    return int(m.group(1)) - int(m.group(2))
