#!/usr/bin/python3
"""Lab: two fast-path lcores (board tests/lab/boards/virtual-2workers.conf,
two queue pairs per port). Flows spread over both lcores; replies to the
relay's active opens that land on the other lcore's queue are steered to
the lcore owning their local port, and every transfer stays byte-exact.
The test restarts the gateway on that board and back on `virtual`."""
import os
import subprocess
import sys
import unittest

import labtool

BOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "boards", "virtual-2workers.conf")
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_peer.py")


def restart(*board):
    labtool.run([labtool.LAB, "restart"] + list(board), timeout=120)


class TwoLcores(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        restart("--board", BOARD)

    @classmethod
    def tearDownClass(cls):
        restart()

    def test_both_lcores_run_and_short_connections_spread(self):
        status = labtool.cli("show", "tcp").stdout
        rows = [l for l in status.splitlines() if l[:1].isdigit()]
        self.assertEqual(len(rows), 2, status)
        r = labtool.peer("wan", "short", "203.0.113.1", 7, 400)
        self.assertEqual(r["ok"], 400, r)
        accepted = labtool.tcp_events().get("accepted", 0)
        self.assertGreaterEqual(accepted, 400)

    def test_relay_replies_reach_the_owning_lcore(self):
        server = subprocess.Popen(
            [labtool.LAB, "exec", "lan", labtool.PY, PEER, "serve-echo", "198.51.100.25", "10025", "90"],
            stdout=subprocess.PIPE, text=True, env=dict(os.environ, SMTPGW_BUILD=labtool.BUILD))
        try:
            self.assertIn("listening", server.stdout.readline())
            for i in range(16):  # local ports alternate between the lcores
                r = labtool.peer("wan", "echo", "203.0.113.1", 10025, 200_000)
                self.assertTrue(r["same"], (i, r))
            g = labtool.tcp_gauges()
            self.assertGreater(g["steered"], 0, g)
            self.assertEqual(labtool.drop_counters().get("steer_ring_full", 0), 0)
        finally:
            server.terminate()
            server.wait(timeout=10)
            server.stdout.close()


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
