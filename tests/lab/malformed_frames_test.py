#!/usr/bin/python3
"""Lab: a bounded burst of malformed frames (crafted with scapy) is dropped,
each kind shows up in its own drop counter, and ping keeps answering."""
import os
import subprocess
import sys
import unittest

import labtool

PER_KIND = 40
SENDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "send_malformed.py")


class MalformedFramesAreCountedAndDropped(unittest.TestCase):
    def test_burst_is_counted_by_reason_while_ping_answers(self):
        gw_mac = labtool.port_mac("wan")
        before = labtool.drop_counters()
        pinger = subprocess.Popen(
            [labtool.LAB, "exec", "wan", "ping", "-n", "-c", "30", "-i", "0.1", "-W", "2", "203.0.113.1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, SMTPGW_BUILD=labtool.BUILD))
        kinds = labtool.lab_exec("wan", [labtool.PY, SENDER, gw_mac, str(PER_KIND)],
                                 timeout=120).stdout.split()
        out, _ = pinger.communicate(timeout=60)
        after = labtool.drop_counters()
        self.assertGreaterEqual(len(kinds), 12, kinds)
        for kind in kinds:
            with self.subTest(reason=kind):
                self.assertEqual(after[kind] - before[kind], PER_KIND,
                                 f"{kind}: {before[kind]} -> {after[kind]}")
        self.assertEqual(labtool.ping_loss(out), 0, out)
        # and the gateway is still fine afterwards
        r = labtool.ping("wan", "2001:db8:1::1", count=2)
        self.assertEqual(labtool.ping_loss(r.stdout), 0, r.stdout)


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
