#!/usr/bin/python3
"""Lab: the peer filter (issue 4). A listed peer gets nothing at all at its
SYN (no SYN-ACK, no RST: scapy sees zero frames from the gateway to it)
while a good client in the same namespace connects; listing and unlisting
at run time take effect at once; a peer that becomes listed loses its
connection; a dynamic entry survives a gateway restart; a peer over its
connection rate is refused while others are served; a reload of 1,000,000
entries while connections are being made loses none of them."""
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import unittest

import labtool

GW = "203.0.113.1"
GOOD = "203.0.113.10"
# Extra WAN peers on the WAN namespace's loopback (benchmarking range).
PEERS = ["198.18.0.66", "198.18.0.67", "198.18.0.71"]


def wan_addr(op, addr):
    labtool.run(["ip", "-n", "smtpgw-wan", "addr", op, addr + "/32", "dev", "lo"], check=False)


class PeerFilter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for a in PEERS:
            wan_addr("add", a)
        cls.mac = labtool.port_mac("wan")

    @classmethod
    def tearDownClass(cls):
        for a in PEERS:
            wan_addr("del", a)
            labtool.cli("peer-filter", "del", a, check=False)

    def test_a_listed_peer_gets_nothing_while_a_good_client_connects(self):
        labtool.cli("peer-filter", "add", "198.18.0.80")
        try:
            before = labtool.tcp_events()
            r = labtool.crafted("silent", self.mac, "198.18.0.80", 7, 5)
            self.assertEqual(r["frames_from_gateway"], 0, r)
            self.assertTrue(labtool.peer("wan", "connect", GOOD, GW, 7, 3)["connected"])
            out = labtool.cli("show", "peer-filter").stdout
            self.assertRegex(out, r"listed_dropped\s+([5-9]|\d\d+)\b", out)
            after = labtool.tcp_events()
            # No state and no cookie was spent on it.
            self.assertEqual(after.get("cookie_sent", 0), before.get("cookie_sent", 0))
        finally:
            labtool.cli("peer-filter", "del", "198.18.0.80")

    def test_each_list_has_its_own_action_and_its_own_counter(self):
        files = {}
        try:
            for action, peer in (("drop", "198.18.0.90"), ("rst", "198.18.0.91")):
                f = tempfile.NamedTemporaryFile("w", suffix=f"-{action}.list", delete=False)
                f.write(f"# one peer, action {action}\n{peer}/32\n")
                f.close()
                files[action] = f.name
                labtool.cli("peer-filter", "load", f.name, "black", action)
            dropped = labtool.crafted("silent", self.mac, "198.18.0.90", 7, 4)
            self.assertEqual(dropped["frames_from_gateway"], 0, dropped)
            reset = labtool.crafted("silent", self.mac, "198.18.0.91", 7, 4)
            self.assertEqual(reset["synack_from_gateway"], 0, reset)
            self.assertEqual(reset["rst_from_gateway"], 4, reset)
            self.assertIn("LISTED by " + files["rst"] + ", gets RST",
                          labtool.cli("peer-filter", "test", "198.18.0.91").stdout)
            out = labtool.cli("show", "peer-filter").stdout
            for action, path in files.items():
                self.assertRegex(out, re.escape(path) + r"\s+black\s+1\s+0\s+\S+\s+" + action +
                                 r"\s+4\b", out)
            # The default action is unchanged for every other list.
            self.assertRegex(out, r"runtime\s+black\s+\d+\s+drop\b", out)
        finally:
            for path in files.values():
                labtool.cli("peer-filter", "unload", path, check=False)
                os.unlink(path)

    def test_listing_and_unlisting_take_effect_at_once(self):
        peer = "198.18.0.66"
        self.assertTrue(labtool.peer("wan", "connect", peer, GW, 7, 3)["connected"])
        labtool.cli("peer-filter", "add", peer)
        self.assertIn("LISTED", labtool.cli("peer-filter", "test", peer).stdout)
        self.assertFalse(labtool.peer("wan", "connect", peer, GW, 7, 2)["connected"])
        labtool.cli("peer-filter", "del", peer)
        self.assertTrue(labtool.peer("wan", "connect", peer, GW, 7, 3)["connected"])

    def test_the_whitelist_wins_over_a_wider_blacklist_entry(self):
        labtool.cli("peer-filter", "add", "198.18.0.0/24")
        labtool.cli("peer-filter", "add", "198.18.0.66", "white")
        try:
            self.assertTrue(labtool.peer("wan", "connect", "198.18.0.66", GW, 7, 3)["connected"])
            self.assertFalse(labtool.peer("wan", "connect", "198.18.0.67", GW, 7, 2)["connected"])
        finally:
            labtool.cli("peer-filter", "del", "198.18.0.0/24")
            labtool.cli("peer-filter", "del", "198.18.0.66")

    def test_a_peer_that_becomes_listed_loses_its_connection(self):
        peer = "198.18.0.71"
        holder = subprocess.Popen(
            [labtool.LAB, "exec", "wan", labtool.PY,
             os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_peer.py"),
             "hold", peer, GW, "9", "20"],
            stdout=subprocess.PIPE, text=True, env=dict(os.environ, SMTPGW_BUILD=labtool.BUILD))
        try:
            g0 = labtool.tcp_gauges()
            active0 = g0["connections"] - g0["time_wait"]
            def opened():
                g = labtool.tcp_gauges()
                return g["connections"] - g["time_wait"] > active0
            self.assertTrue(labtool.wait_for(opened, 5))
            labtool.cli("peer-filter", "add", peer)
            out, _ = holder.communicate(timeout=30)
            self.assertIn('"reset": true', out)
            self.assertIn("reset_when_listed", labtool.cli("show", "peer-filter").stdout)
        finally:
            labtool.cli("peer-filter", "del", peer, check=False)
            if holder.poll() is None:
                holder.kill()

    def test_a_dynamic_entry_survives_a_restart(self):
        labtool.cli("peer-filter", "block", "198.18.0.90", "600")
        labtool.run([labtool.LAB, "restart"], timeout=120)
        try:
            self.assertIn("LISTED", labtool.cli("peer-filter", "test", "198.18.0.90").stdout)
            self.assertIn("dynamic", labtool.cli("peer-filter", "test", "198.18.0.90").stdout)
        finally:
            labtool.cli("peer-filter", "del", "198.18.0.90")

    def test_a_peer_over_its_connection_rate_is_refused_while_others_are_served(self):
        r = labtool.peer("wan", "burst", "198.18.0.67", GW, 7, 60)
        self.assertLess(r["connected"], 60, r)  # the bucket (burst 20, 10/s) ran dry
        self.assertTrue(labtool.peer("wan", "connect", GOOD, GW, 7, 3)["connected"])
        self.assertRegex(labtool.cli("show", "peer-filter").stdout, r"rate_limited\s+[1-9]")

    def test_a_peer_over_its_limit_is_auto_listed_for_a_while(self):
        peer = "198.18.0.67"
        labtool.cli("peer-filter", "auto-list", "60")
        try:
            labtool.peer("wan", "burst", peer, GW, 7, 60)
            self.assertTrue(labtool.wait_for(
                lambda: "LISTED" in labtool.cli("peer-filter", "test", peer).stdout, 3))
            self.assertIn("dynamic", labtool.cli("peer-filter", "test", peer).stdout)
            self.assertFalse(labtool.peer("wan", "connect", peer, GW, 7, 2)["connected"])
            self.assertTrue(labtool.peer("wan", "connect", GOOD, GW, 7, 3)["connected"])
        finally:
            labtool.cli("peer-filter", "auto-list", "0")
            labtool.cli("peer-filter", "del", peer, check=False)

    def test_reloading_a_million_entries_loses_no_connection(self):
        rng = random.Random(4)
        with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as f:
            f.write("# a million /32s in 10.0.0.0/8\n")
            written = []
            for _ in range(1_000_000):
                written.append("10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
            f.write("\n".join(written) + "\n")
            path = f.name
        try:
            result = {}

            def clients():
                result["r"] = labtool.peer("wan", "short", GW, 7, 50)

            t = threading.Thread(target=clients)
            t.start()
            for _ in range(2):  # load, then reload the same file
                r = labtool.cli("peer-filter", "load", path)
                self.assertIn("1000000 entries", r.stdout.replace(",", ""), r.stdout)
                # A long command shows its progress (on stderr: stdout is the answer).
                self.assertIn("1000000 entries, 0 bad lines; building the table", r.stderr)
                self.assertIn("publishing", r.stderr)
            t.join(120)
            self.assertEqual(result["r"]["ok"], 50, result)
            for addr in (written[0], written[-1]):
                self.assertIn("LISTED", labtool.cli("peer-filter", "test", addr).stdout)
        finally:
            labtool.cli("peer-filter", "unload", path, check=False)
            os.unlink(path)


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
