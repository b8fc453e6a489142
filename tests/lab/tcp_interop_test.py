#!/usr/bin/python3
"""Lab: the gateway's TCP against the Linux kernel as the peer (issue 3).

The kernel in smtpgw-wan talks to the gateway's lab services (echo 7,
discard 9, chargen 19); the relay (10025) makes the gateway open a second
connection to a kernel listener in smtpgw-lan. Bytes are compared by hash.
Fault injection (`set fault wan ...`) supplies loss, duplication and
reordering with a fixed seed, so a failure replays."""
import os
import subprocess
import sys
import time
import unittest

import labtool

MB = 1_000_000
BIG = int(os.environ.get("SMTPGW_TCP_TEST_BYTES", str(50 * MB)))
LOSSY = int(os.environ.get("SMTPGW_TCP_LOSSY_BYTES", str(50 * MB)))
GW4, GW6 = "203.0.113.1", "2001:db8:1::1"
LAN4, LAN6 = "198.51.100.25", "2001:db8:2::25"
RELAY = 10025


def settle_connections(timeout=10):
    """True once every connection is gone or in TIME-WAIT (2 MSL is 60 s)."""
    def settled():
        g = labtool.tcp_gauges()
        return g["connections"] == g["time_wait"]
    return labtool.wait_for(settled, timeout)


class KernelPeerTransfersAreByteExact(unittest.TestCase):
    def tearDown(self):
        labtool.cli("set", "fault", "wan", "off")

    def test_echo_50mb_each_way_without_loss(self):
        for gw in (GW4, GW6):
            with self.subTest(gateway=gw):
                r = labtool.peer("wan", "echo", gw, 7, BIG)
                self.assertTrue(r["same"], r)
                self.assertEqual(r["received"], BIG, r)
        self.assertTrue(settle_connections(), labtool.tcp_gauges())

    def test_echo_50mb_each_way_with_5_percent_loss_and_reordering(self):
        for seed, gw in ((11, GW4), (12, GW6)):
            with self.subTest(gateway=gw):
                labtool.cli("set", "fault", "wan", f"loss=5,reorder=5,duplicate=1,seed={seed}")
                before = labtool.tcp_events()
                r = labtool.peer("wan", "echo", gw, 7, LOSSY, timeout=900)
                labtool.cli("set", "fault", "wan", "off")
                after = labtool.tcp_events()
                self.assertTrue(r["same"], r)
                self.assertEqual(r["received"], LOSSY, r)
                # Recovery really ran: the losses were repaired by us, not avoided.
                self.assertGreater(after.get("ooo_queued", 0), before.get("ooo_queued", 0))
                repaired = sum(after.get(k, 0) - before.get(k, 0)
                               for k in ("fast_retransmit", "rto_expired", "sack_hole_retransmit",
                                         "tlp_probe"))
                self.assertGreater(repaired, 0, after)
        self.assertTrue(settle_connections(), labtool.tcp_gauges())

    def test_chargen_streams_its_pattern(self):
        r = labtool.peer("wan", "chargen", GW4, 19, 10 * MB)
        self.assertEqual(r, {"received": 10 * MB, "same": True})

    def test_discard_half_close_gets_the_servers_fin(self):
        r = labtool.peer("wan", "discard", GW6, 9, 10 * MB)
        self.assertTrue(r["server_closed"], r)

    def test_thousand_short_connections_in_a_row(self):
        before = labtool.tcp_events()
        r = labtool.peer("wan", "short", GW4, 7, 1000)
        self.assertEqual(r["ok"], 1000, r)
        after = labtool.tcp_events()
        self.assertEqual(after["accepted"] - before.get("accepted", 0), 1000)
        self.assertTrue(settle_connections(), labtool.tcp_gauges())

    def test_abort_with_rst_frees_the_connection(self):
        before = labtool.tcp_events().get("rst_received", 0)
        labtool.peer("wan", "abort", GW4, 7)
        self.assertTrue(labtool.wait_for(
            lambda: labtool.tcp_events().get("rst_received", 0) == before + 1, 5))
        self.assertTrue(settle_connections(), labtool.tcp_gauges())

    def test_closed_port_is_refused_with_rst(self):
        before = labtool.tcp_events().get("no_listener", 0)
        r = labtool.lab_exec("wan", [labtool.PY, "-c",
                                     "import socket\n"
                                     "try:\n"
                                     "    socket.create_connection(('203.0.113.1', 4444), timeout=5)\n"
                                     "    print('connected')\n"
                                     "except ConnectionRefusedError:\n"
                                     "    print('refused')\n"], check=False)
        self.assertEqual(r.stdout.strip(), "refused", r.stderr)
        self.assertEqual(labtool.tcp_events().get("no_listener", 0), before + 1)

    def test_relay_opens_to_a_kernel_listener_on_the_lan(self):
        for client_to, listen_on in ((GW4, LAN4), (GW6, LAN6)):
            with self.subTest(family=client_to):
                server = subprocess.Popen(
                    [labtool.LAB, "exec", "lan", labtool.PY,
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_peer.py"),
                     "serve-echo", listen_on, str(RELAY), "60"],
                    stdout=subprocess.PIPE, text=True,
                    env=dict(os.environ, SMTPGW_BUILD=labtool.BUILD))
                try:
                    self.assertIn("listening", server.stdout.readline())
                    before = labtool.tcp_events().get("connected", 0)
                    r = labtool.peer("wan", "echo", client_to, RELAY, 20 * MB)
                    self.assertTrue(r["same"], r)
                    self.assertEqual(labtool.tcp_events().get("connected", 0), before + 1)
                finally:
                    server.terminate()
                    server.wait(timeout=10)
                    server.stdout.close()
        self.assertTrue(settle_connections(), labtool.tcp_gauges())


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
