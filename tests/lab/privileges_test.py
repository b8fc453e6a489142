#!/usr/bin/python3
"""Lab: least privilege of the running gateway (issue 10), checked while
mail streams through: the daemon holds only the six capabilities it still
uses (dataplane/daemon/privileges.h) in its effective, permitted and
bounding sets, none inheritable; its antivirus workers hold none; and the
control socket refuses a user outside root and the admin group while the
gateway is busy, yet answers root."""
import os
import subprocess
import threading
import unittest

import labtool
from scan_test import attachment, mime, send, text

# CAP_CHOWN 0, CAP_KILL 5, CAP_SETGID 6, CAP_SETUID 7, CAP_SETPCAP 8, CAP_IPC_LOCK 14
KEPT = (1 << 0) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 14)


def daemon_pid():
    with open("/run/smtpgw-lab/smtpgw.pid") as f:
        pid = int(f.read())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert b"smtpgw" in f.read()
    return pid


class UnderLoad(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        msgs = [mime(text(b"privileges %d" % i), attachment(os.urandom(200000), "p%d.bin" % i))
                for i in range(30)]
        cls.outcomes = []
        cls.sender = threading.Thread(target=lambda: cls.outcomes.extend(send(*msgs)))
        cls.sender.start()

    @classmethod
    def tearDownClass(cls):
        cls.sender.join()
        assert all(code == 250 for code, _ in cls.outcomes), cls.outcomes

    def test_the_daemon_keeps_only_the_capabilities_it_uses(self):
        st = labtool.proc_status(daemon_pid())
        for field in ("CapEff", "CapPrm", "CapBnd"):
            self.assertEqual(int(st[field], 16), KEPT, f"{field} {st[field]}")
        self.assertEqual(int(st["CapInh"], 16), 0)
        self.assertEqual(int(st["CapAmb"], 16), 0)
        with open("/run/smtpgw-lab/smtpgw.log") as f:
            self.assertIn("capabilities reduced to CAP_CHOWN,CAP_KILL,CAP_SETGID,CAP_SETUID,"
                          "CAP_SETPCAP,CAP_IPC_LOCK", f.read())

    def test_antivirus_workers_hold_no_capability(self):
        out = subprocess.run(["pgrep", "-f", "smtpgw-avscan"], capture_output=True,
                             text=True).stdout.split()
        self.assertGreaterEqual(len(out), 1)
        for pid in out:
            st = labtool.proc_status(pid)
            for field in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
                self.assertEqual(int(st[field], 16), 0, f"{pid} {field}")

    def test_the_control_socket_refuses_a_non_admin_and_answers_root(self):
        for _ in range(5):
            r = subprocess.run(["runuser", "-u", "nobody", "--", labtool.CLI, "show", "status"],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(r.stdout, "")
            self.assertRegex(r.stderr, "Permission denied|permission denied")
            self.assertIn("state     running", labtool.cli("show", "status").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
