#!/usr/bin/python3
"""Lab: the gateway answers ARP/ND and echo on both ports, IPv4 and IPv6,
and learns its neighbors."""
import sys
import unittest

import labtool

CASES = [  # (namespace, gateway address)
    ("wan", "203.0.113.1"),
    ("wan", "2001:db8:1::1"),
    ("lan", "198.51.100.1"),
    ("lan", "2001:db8:2::1"),
]


class GatewayAnswersPing(unittest.TestCase):
    def test_every_port_address_answers_echo(self):
        for where, address in CASES:
            with self.subTest(where=where, address=address):
                r = labtool.ping(where, address, count=3, interval=0.2)
                self.assertEqual(labtool.ping_loss(r.stdout), 0, r.stdout + r.stderr)

    def test_neighbors_learned_from_arp_and_nd(self):
        for where, address in CASES:
            labtool.ping(where, address, count=1)
        out = labtool.cli("show", "neighbors").stdout
        for peer in ("203.0.113.254", "2001:db8:1::254", "198.51.100.25", "2001:db8:2::25"):
            self.assertIn(peer, out)

    def test_address_not_ours_gets_no_answer(self):
        # 203.0.113.2 is on the WAN link but nobody owns it: ARP goes unanswered.
        before = labtool.drop_counters()["arp_not_for_us"]
        r = labtool.ping("wan", "203.0.113.2", count=2)
        self.assertEqual(labtool.ping_loss(r.stdout), 2)
        self.assertGreater(labtool.drop_counters()["arp_not_for_us"], before)


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
