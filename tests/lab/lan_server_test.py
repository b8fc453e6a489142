#!/usr/bin/python3
"""Lab: the default LAN mail server accepts mail on 198.51.100.25:25 and keeps
each message as one file with exactly the bytes received (Python smtplib as
the client, run inside smtpgw-lan)."""
import glob
import json
import os
import sys
import time
import unittest

import labtool

MAILDIR = "/run/smtpgw-lab/lan-mail"
CLIENT = r'''
import smtplib, sys
body = sys.stdin.buffer.read()
with smtplib.SMTP("198.51.100.25", 25, timeout=20) as s:
    s.ehlo("client.example.org")
    s.sendmail("sender@example.org", ["someone@example.com"], body)
'''


class LanServerKeepsEveryMessage(unittest.TestCase):
    def test_message_is_stored_byte_exact_with_its_envelope(self):
        before = set(glob.glob(os.path.join(MAILDIR, "*.eml")))
        marker = f"lan-server-test-{time.time_ns()}"
        # A line starting with a dot exercises dot-stuffing on the way in.
        body = (f"Subject: {marker}\r\nFrom: sender@example.org\r\n\r\n"
                "line one\r\n.starts with a dot\r\nlast line\r\n").encode()
        labtool.lab_exec("lan", [labtool.PY, "-c", CLIENT], input=body.decode())
        new = set(glob.glob(os.path.join(MAILDIR, "*.eml"))) - before
        self.assertEqual(len(new), 1, new)
        path = new.pop()
        with open(path, "rb") as f:
            self.assertEqual(f.read(), body)
        with open(path[:-4] + ".json") as f:
            env = json.load(f)
        self.assertEqual(env["mail_from"], "sender@example.org")
        self.assertEqual(env["rcpt_tos"], ["someone@example.com"])


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
