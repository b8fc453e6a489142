#!/usr/bin/python3
"""Lab: the control endpoint of a running gateway: one-shot CLI exit codes,
version and memory reports, and refusal of a non-admin user."""
import os
import subprocess
import sys
import unittest

import labtool


class ControlEndpoint(unittest.TestCase):
    def test_show_version_names_every_engine(self):
        out = labtool.cli("show", "version").stdout
        for word in ("smtpgw", "DPDK 22.11", "Hyperscan", "libclamav", "OpenSSL"):
            self.assertIn(word, out)

    def test_show_memory_reports_allocator_and_dpdk_heap(self):
        out = labtool.cli("show", "memory").stdout
        self.assertIn("dpdk heap allocated", out)
        if "(Sanitize)" in labtool.cli("show", "version").stdout:
            self.assertIn("system malloc", out)
        else:
            allocated = [l for l in out.splitlines() if l.startswith("jemalloc allocated")]
            self.assertEqual(len(allocated), 1, out)
            self.assertGreater(int(allocated[0].split()[2]), 0)

    def test_abbreviated_keywords_work(self):
        self.assertIn("wan", labtool.cli("sh", "int").stdout)

    def test_unknown_command_exits_1_with_reason_on_stderr(self):
        r = labtool.cli("frobnicate", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown command 'frobnicate'", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_question_mark_lists_next_words(self):
        out = labtool.cli("show", "?").stdout
        for word in ("interfaces", "stats", "memory", "neighbors", "version"):
            self.assertIn(word, out)

    def test_non_admin_user_is_refused(self):
        r = subprocess.run(["runuser", "-u", "nobody", "--", labtool.CLI, "show", "status"],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "")
        self.assertRegex(r.stderr, "Permission denied|permission denied")

    def test_log_level_decides_what_the_daemon_logs(self):
        log = "/run/smtpgw-lab/smtpgw.log"
        try:
            labtool.cli("log", "level", "warn")
            labtool.cli("show", "version")  # ok commands are info: not logged now
            labtool.cli("show", "frobnicate", check=False)  # refusals are warn
            labtool.cli("log", "level", "info")
            labtool.cli("show", "status")
            with open(log) as f:
                text = f.read()
            self.assertNotIn('cmd="show version"', text)
            self.assertRegex(text, r' warn smtpgw: control: uid=0 pid=\d+ cmd="show frobnicate" result=err')
            self.assertRegex(text, r' info smtpgw: control: uid=0 pid=\d+ cmd="show status" result=ok')
            self.assertIn("log level warn", labtool.cli("log", "level", "warn").stdout)
            self.assertIn("log level warn\n", labtool.cli("show", "config").stdout)
        finally:
            labtool.cli("log", "level", "info")

    def test_show_connections_lists_the_tcp_table(self):
        self.assertIn("state", labtool.cli("show", "connections").stdout.lower())

    def test_unreachable_gateway_exits_2(self):
        r = subprocess.run([labtool.CLI, "-s", "/nonexistent/control.sock", "show", "status"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot reach the gateway", r.stderr)


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
