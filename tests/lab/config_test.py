#!/usr/bin/python3
"""Lab: the running configuration of a live gateway (controlplane/running_config):
`set` changes SMTP for the next session at once and refuses a bad value
changing nothing; `config save` writes the startup file and a restarted
gateway comes back with it; `config rollback` undoes unsaved changes, peer
filter entries included; `commit confirmed 1` without `commit` rolls back by
itself after a minute."""
import os
import sys
import time
import unittest

import labtool

CONFIG = "/run/smtpgw-lab/smtpgw.conf"

BANNER = r'''
import socket, sys
s = socket.create_connection(("203.0.113.1", 25), 10)
s.settimeout(10)
buf = b""
while not buf.endswith(b"\r\n"):
    d = s.recv(1024)
    if not d:
        break
    buf += d
s.sendall(b"QUIT\r\n")
s.close()
print(buf.decode().strip())
'''


def banner():
    return labtool.lab_exec("wan", [labtool.PY, "-c", BANNER], timeout=30).stdout.strip()


def show_config():
    return labtool.cli("show", "config").stdout


def remove_config():
    for f in (CONFIG, CONFIG + ".prev"):
        if os.path.exists(f):
            os.unlink(f)


class RunningConfiguration(unittest.TestCase):
    def setUp(self):
        remove_config()
        labtool.cli("config", "rollback")  # the board's configuration
        self.assertIn("mx.example.com", banner())

    def tearDown(self):
        labtool.cli("commit")
        remove_config()
        labtool.cli("config", "rollback")

    def test_set_applies_to_the_next_session_and_a_bad_value_changes_nothing(self):
        out = labtool.cli("set", "smtp.hostname", "mx2.example.com").stdout
        self.assertIn("smtp.hostname mx2.example.com", out)
        self.assertNotIn("next start", out)
        self.assertRegex(banner(), r"^220 mx2\.example\.com ")
        r = labtool.cli("set", "smtp.max_recipients", "7", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("100..100000", r.stderr)
        config = show_config()
        self.assertIn("set smtp.hostname mx2.example.com\n", config)
        self.assertNotIn("max_recipients", config)
        # A size fixed at start is kept for the next start and says so.
        self.assertIn("next start", labtool.cli("set", "tcp.max_connections", "8192").stdout)

    def test_rollback_undoes_unsaved_changes_peer_filter_included(self):
        labtool.cli("set", "smtp.hostname", "saved.example.com")
        labtool.cli("config", "save")
        labtool.cli("set", "smtp.hostname", "unsaved.example.com")
        labtool.cli("peer-filter", "add", "198.18.0.99")
        diff = labtool.cli("config", "diff").stdout
        self.assertIn("-set smtp.hostname saved.example.com", diff)
        self.assertIn("+set smtp.hostname unsaved.example.com", diff)
        self.assertIn("+peer-filter add 198.18.0.99/32 black", diff)
        labtool.cli("config", "rollback")
        self.assertRegex(banner(), r"^220 saved\.example\.com ")
        self.assertIn("not listed", labtool.cli("peer-filter", "test", "198.18.0.99").stdout.lower())
        self.assertIn("is the saved one", labtool.cli("config", "diff").stdout)

    def test_saved_configuration_is_the_startup_configuration(self):
        labtool.cli("set", "smtp.hostname", "restarted.example.com")
        labtool.cli("set", "tcp.idle_timeout_s", "900")
        self.assertIn("saved " + CONFIG, labtool.cli("config", "save").stdout)
        with open(CONFIG) as f:
            saved = f.read()
        self.assertIn("set smtp.hostname restarted.example.com\n", saved)
        labtool.run([labtool.LAB, "restart"], timeout=120)
        self.assertRegex(banner(), r"^220 restarted\.example\.com ")
        self.assertIn("idle timeout: 900", labtool.cli("show", "tcp").stdout)
        self.assertIn("is the saved one", labtool.cli("config", "diff").stdout)

    def test_commit_confirmed_without_commit_rolls_back_by_itself(self):
        labtool.cli("commit", "confirmed", "1")
        labtool.cli("set", "smtp.hostname", "risky.example.com")
        self.assertRegex(banner(), r"^220 risky\.example\.com ")
        time.sleep(50)
        self.assertRegex(banner(), r"^220 risky\.example\.com ")  # not yet
        labtool.wait_for(lambda: banner().startswith("220 mx.example.com "), 30)
        self.assertNotIn("smtp.hostname", show_config())


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
