#!/usr/bin/python3
"""Lab: the Prometheus endpoint of a running gateway (controlplane/metrics_http,
io/metrics_collect): scraped over HTTP on loopback and parsed by a real
Prometheus text parser (prometheus_client, nobody here wrote it); every
family has HELP and TYPE; counters move when mail flows; the latency
histograms fill; the endpoint is not reachable from the WAN side."""
import sys
import unittest
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import labtool

URL = "http://127.0.0.1:9101/metrics"

SEND = r'''
import smtplib, sys
n = int(sys.argv[1])
for i in range(n):
    with smtplib.SMTP("203.0.113.1", 25, timeout=30) as s:
        s.sendmail("sender@example.org", ["someone@example.com"], b"Subject: metrics %d\r\n\r\nhi\r\n" % i)
print("sent", n)
'''


def scrape():
    with urllib.request.urlopen(URL, timeout=10) as r:
        ctype = r.headers["Content-Type"]
        text = r.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return ctype, text, families


def value(families, family, sample_name, **labels):
    for s in families[family].samples:
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {sample_name} {labels} in {family}")


class Metrics(unittest.TestCase):
    def test_every_family_parses_with_help_and_type(self):
        ctype, text, families = scrape()
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        for name in ("smtpgw_port_rx_packets", "smtpgw_drops", "smtpgw_tcp_connections",
                     "smtpgw_smtp_messages", "smtpgw_peer_filter_decisions",
                     "smtpgw_peer_filter_refused", "smtpgw_tls_handshakes",
                     "smtpgw_smtp_verdict_seconds", "smtpgw_lcore_busy_cycles", "smtpgw_mbufs_in_use"):
            self.assertIn(name, families, sorted(families))
            self.assertTrue(families[name].documentation, name)
        self.assertIn("# TYPE smtpgw_smtp_verdict_seconds histogram", text)
        self.assertEqual(value(families, "smtpgw_metrics_refused", "smtpgw_metrics_refused_total"), 0)
        self.assertEqual({s.labels["port"] for s in families["smtpgw_port_rx_packets"].samples},
                         {"wan", "lan"})

    def test_counters_and_histograms_move_when_mail_flows(self):
        _, _, before = scrape()
        n = 5
        labtool.lab_exec("wan", [labtool.PY, "-c", SEND, str(n)], timeout=120)
        _, _, after = scrape()
        sent = lambda f: value(f, "smtpgw_smtp_messages", "smtpgw_smtp_messages_total", status="sent")
        self.assertGreaterEqual(sent(after) - sent(before), n)
        rx = lambda f: value(f, "smtpgw_port_rx_packets", "smtpgw_port_rx_packets_total", port="wan")
        self.assertGreater(rx(after) - rx(before), n * 5)
        for h in ("smtpgw_smtp_verdict_seconds", "smtpgw_smtp_banner_seconds",
                  "smtpgw_smtp_lan_reply_seconds"):
            count = lambda f: value(f, h, h + "_count")
            self.assertGreaterEqual(count(after) - count(before), n, h)
            inf = value(after, h, h + "_bucket", le="+Inf")
            self.assertEqual(inf, count(after))

    def test_the_endpoint_is_not_reachable_from_the_wan(self):
        r = labtool.lab_exec("wan", [labtool.PY, "-c",
                                     "import socket; socket.create_connection(('203.0.113.1', 9101), 3)"],
                             check=False, timeout=30)
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
