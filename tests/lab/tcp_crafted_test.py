#!/usr/bin/python3
"""Lab: crafted segments (scapy) against the gateway's TCP (issue 3): bad
checksums, out-of-window RST/SYN/data, a malformed option, a peer that
vanishes (freed by the idle timeout), and a bounded SYN flood from spoofed
sources while a real kernel client still connects (SYN cookies)."""
import sys
import time
import unittest

import labtool


class CraftedSegments(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mac = labtool.port_mac("wan")

    def test_hostile_segments_are_counted_and_the_connection_survives(self):
        before = labtool.tcp_events()
        r = labtool.crafted("established", self.mac, "198.18.0.51")
        after = labtool.tcp_events()
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        self.assertEqual(r["bad_checksum_replies"], 0, r)
        self.assertEqual(r["rst_out_of_window_replies"], 0, r)
        self.assertEqual(r["rst_in_window_challenge_acks"], 1, r)
        self.assertEqual(r["syn_challenge_acks"], 1, r)
        self.assertGreaterEqual(r["out_of_window_data_acks"], 1, r)
        self.assertEqual(r["bad_option_replies"], 0, r)
        self.assertTrue(r["fin_from_gateway"], r)
        self.assertTrue(r["all_valid_bytes_acked"], r)
        for event in ("bad_checksum", "rst_out_of_window", "rst_challenged", "syn_challenged",
                      "malformed_option"):
            self.assertEqual(delta.get(event, 0), 1, (event, delta))
        self.assertGreaterEqual(delta.get("seg_not_acceptable", 0), 1, delta)

    def test_vanished_peer_is_freed_by_the_idle_timeout(self):
        labtool.cli("set", "tcp.idle_timeout_s", "2")
        try:
            def active():  # connections not in TIME-WAIT (earlier tests may leave some)
                g = labtool.tcp_gauges()
                return g["connections"] - g["time_wait"]
            active_before = active()
            before = labtool.tcp_events().get("idle_timeout", 0)
            labtool.crafted("vanish", self.mac, "198.18.0.60", 7)
            self.assertEqual(active(), active_before + 1)
            self.assertTrue(labtool.wait_for(lambda: active() == active_before, 10),
                            labtool.tcp_gauges())
            self.assertEqual(labtool.tcp_events().get("idle_timeout", 0), before + 1)
        finally:
            labtool.cli("set", "tcp.idle_timeout_s", "600")

    def test_syn_flood_gets_cookies_while_a_real_client_connects(self):
        # 203.0.113.10 completes a handshake first: a proven peer. 198.18.0.120
        # has never connected: during the flood it gets a cookie like the
        # spoofed sources, while the proven one keeps state (a SYN-ACK that
        # is retransmitted: tcp.syn_backlog_proven).
        fresh = "198.18.0.120"
        labtool.run(["ip", "-n", "smtpgw-wan", "addr", "replace", fresh + "/32", "dev", "lo"])
        try:
            self.assertEqual(labtool.peer("wan", "short", "203.0.113.1", 7, 1)["ok"], 1)
            before = labtool.tcp_events()
            flood = labtool.crafted("synflood", self.mac, 2000)
            self.assertEqual(flood["sent"], 2000)
            gauges = labtool.tcp_gauges()
            self.assertTrue(gauges["cookies"], gauges)
            self.assertLessEqual(gauges["half_open"], 256, gauges)  # tcp.syn_backlog_high
            self.assertTrue(labtool.peer("wan", "connect", fresh, "203.0.113.1", 7, 5)["connected"])
            mid = labtool.tcp_events()
            self.assertGreaterEqual(mid.get("cookie_accepted", 0) - before.get("cookie_accepted", 0),
                                    1)
            r = labtool.peer("wan", "echo", "203.0.113.1", 7, 1_000_000)
            self.assertTrue(r["same"], r)
            after = labtool.tcp_events()
            self.assertGreater(after.get("cookie_sent", 0) - before.get("cookie_sent", 0), 1000)
            self.assertGreaterEqual(
                after.get("syn_proven_stateful", 0) - mid.get("syn_proven_stateful", 0), 1)
        finally:
            labtool.run(["ip", "-n", "smtpgw-wan", "addr", "del", fresh + "/32", "dev", "lo"],
                        check=False)
        # The half-open entries give up after their SYN-ACK retries (1+2+4+8+16 s).
        self.assertTrue(labtool.wait_for(
            lambda: labtool.tcp_gauges()["half_open"] == 0, 60, interval=1), labtool.tcp_gauges())
        self.assertFalse(labtool.tcp_gauges()["cookies"])


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
