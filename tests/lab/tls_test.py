#!/usr/bin/python3
"""Lab: STARTTLS on the gateway's port 25 (issue 6) with real peers: swaks
--tls, `openssl s_client -starttls smtp` (TLS 1.2 and 1.3, resumption from a
saved session), Python smtplib.starttls (body byte-exact at the LAN server),
Postfix in the WAN namespace with smtp_tls_security_level=encrypt. And the
bad cases: commands pipelined after STARTTLS are never run (CVE-2011-0411),
EHLO again after TLS without STARTTLS offered, tls.required refuses MAIL in
clear with 530 5.7.0, garbage instead of a ClientHello, a renegotiation, a
huge ClientHello and a handshake that stops half-way all end the connection
and are counted."""
import glob
import json
import os
import re
import subprocess
import sys
import time
import unittest

import labtool

GW = "203.0.113.1"
LAN_MAIL = "/run/smtpgw-lab/lan-mail"
LAB_POSTFIX = os.path.join(labtool.ROOT, "scripts", "lab-postfix")

RAW = r'''
import socket, ssl, sys, json
steps = json.loads(sys.argv[1])
s = socket.create_connection(("203.0.113.1", 25), 10)
s.settimeout(10)
out = []
def reply(sock):
    buf = b""
    while True:
        d = sock.recv(4096)
        if not d:
            return buf.decode(errors="replace") + "<closed>"
        buf += d
        lines = buf.split(b"\r\n")
        if len(lines) >= 2 and lines[-1] == b"" and lines[-2][3:4] == b" ":
            return buf.decode(errors="replace")
out.append(reply(s))
sock = s
for kind, data in steps:
    if kind == "send":
        sock.sendall(data.encode("latin-1"))
        out.append(reply(sock))
    elif kind == "send_noreply":
        sock.sendall(data.encode("latin-1"))
    elif kind == "tls":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(s, server_hostname="mx.example.com")
        out.append("TLS " + sock.version())
    elif kind == "raw_then_read":
        sock.sendall(bytes.fromhex(data))
        try:
            d = sock.recv(4096)
            out.append("got %d bytes" % len(d))
            d = sock.recv(4096)
            out.append("closed" if not d else "got more")
        except Exception as e:
            out.append("error " + type(e).__name__)
print(json.dumps(out))
'''

SEND_TLS = r'''
import smtplib, ssl, sys
body = sys.stdin.buffer.read()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("203.0.113.1", 25, timeout=30) as s:
    s.ehlo("client.example.org")
    s.starttls(context=ctx)
    s.ehlo("client.example.org")
    s.sendmail("sender@example.org", ["someone@example.com"], body)
print("sent")
'''


def raw(steps):
    r = labtool.lab_exec("wan", [labtool.PY, "-c", RAW, json.dumps(steps)], timeout=60)
    return json.loads(r.stdout)


def counters():
    out = labtool.cli("show", "tls").stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", out, re.M)}


def s_client(args, lines, timeout=30):
    """openssl s_client -starttls smtp, typing `lines` one a second (it
    leaves at the end of its input, so the last wait lets replies arrive)."""
    typed = "; ".join(f"printf '{l}'; sleep 1" for l in lines)
    cmd = (f"({typed}) | openssl s_client -starttls smtp -connect {GW}:25 "
           f"-servername mx.example.com {' '.join(args)}")
    return labtool.lab_exec("wan", ["sh", "-c", cmd], timeout=timeout, check=False)


def lan_file_with(tag, timeout=30, folder=LAN_MAIL):
    found = []

    def seen():
        for f in glob.glob(os.path.join(folder, "*.eml")):
            with open(f, "rb") as fh:
                data = fh.read()
            if tag.encode() in data:
                found.append(data)
                return True
        return False
    labtool.wait_for(seen, timeout)
    return found[0]


class StartTls(unittest.TestCase):
    def test_ehlo_offers_starttls_in_clear_and_not_after_it(self):
        out = raw([["send", "EHLO client.example.org\r\n"], ["send", "STARTTLS\r\n"], ["tls", ""],
                   ["send", "EHLO client.example.org\r\n"], ["send", "QUIT\r\n"]])
        self.assertIn("250-STARTTLS", out[1])
        self.assertTrue(out[2].startswith("220 2.0.0"), out)
        self.assertEqual(out[3], "TLS TLSv1.3")
        self.assertNotIn("STARTTLS", out[4])
        self.assertIn("250", out[4])

    def test_commands_pipelined_after_starttls_are_never_run(self):
        # CVE-2011-0411: MAIL rides in the same packet as STARTTLS, in clear.
        out = raw([["send", "EHLO client.example.org\r\n"],
                   ["send", "STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n"], ["tls", ""],
                   ["send", "EHLO client.example.org\r\n"],
                   ["send", "RCPT TO:<someone@example.com>\r\n"], ["send", "QUIT\r\n"]])
        self.assertTrue(out[2].startswith("220 "), out)
        self.assertNotIn("250 2.1.0", out[2])  # no reply to the injected MAIL
        self.assertTrue(out[5].startswith("503"), out)  # no transaction exists

    def test_a_command_before_ehlo_again_after_tls_is_refused(self):
        out = raw([["send", "EHLO client.example.org\r\n"], ["send", "STARTTLS\r\n"], ["tls", ""],
                   ["send", "MAIL FROM:<a@example.org>\r\n"], ["send", "QUIT\r\n"]])
        self.assertTrue(out[4].startswith("503"), out)

    def test_smtplib_starttls_delivers_the_body_byte_exact(self):
        tag = f"tls-smtplib-{time.time_ns()}"
        body = (f"Subject: {tag}\r\nFrom: <sender@example.org>\r\n\r\n".encode() +
                b"".join(b"line %d\r\n.leading dot\r\n" % i for i in range(4000)))
        before = counters()
        r = labtool.lab_exec("wan", [labtool.PY, "-c", SEND_TLS], input=body.decode("latin-1"),
                             timeout=60, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        trace, rest = labtool.split_received(lan_file_with(tag))
        self.assertEqual(rest, body)
        self.assertEqual(trace["with"], b"ESMTPS")  # RFC 3848
        self.assertRegex(trace["tls"].decode(), r"^TLSv1\.3 with cipher TLS_\w+$")  # RFC 8314
        self.assertEqual(counters()["established"], before["established"] + 1)
        with open("/run/smtpgw-lab/mail.log") as f:
            lines = [l for l in f if "status=sent" in l and 'tls="TLSv1.3 ' in l]
        self.assertTrue(lines)

    def test_swaks_tls_delivers(self):
        tag = f"tls-swaks-{time.time_ns()}"
        r = labtool.lab_exec("wan", ["swaks", "--server", GW, "--tls", "--helo", "client.example.org",
                                     "--from", "sender@example.org", "--to", "someone@example.com",
                                     "--header", f"Subject: {tag}"], timeout=60, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("TLS started", r.stdout)
        lan_file_with(tag)

    def test_openssl_s_client_tls12_tls13_and_resumption(self):
        session = "/tmp/smtpgw-tls-test.session"  # the lab shares the root file system
        for version, proto in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            r = s_client([version, "-sess_out", session], ["EHLO client.example.org\\r\\n"])
            self.assertIn(f"Protocol  : {proto}", r.stdout)
            self.assertIn("250 CHUNKING", r.stdout)
            before = counters()
            r = s_client([version, "-sess_in", session], ["QUIT\\r\\n"])
            self.assertIn("Reused, " + proto, r.stdout, r.stdout[-1500:])
            self.assertEqual(counters()["resumed"], before["resumed"] + 1)
        os.unlink(session)

    def test_a_certificate_reload_keeps_sessions_and_tickets(self):
        session = "/tmp/smtpgw-tls-reload.session"
        s_client(["-tls1_3", "-sess_out", session], ["EHLO client.example.org\\r\\n"])
        self.assertIn("certificates reloaded", labtool.cli("tls", "reload").stdout)
        r = s_client(["-tls1_3", "-sess_in", session], ["QUIT\\r\\n"])
        self.assertIn("Reused, TLSv1.3", r.stdout)  # tickets of the replaced context stay valid
        os.unlink(session)
        r = labtool.cli("set", "tls.certificates", "/nonexistent.crt:/nonexistent.key", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent.crt", r.stderr)
        self.assertIn("mx.example.com (default)", labtool.cli("show", "tls").stdout)

    def test_a_session_open_across_a_reload_goes_on(self):
        # A TLS session mid-transaction while the certificates are reloaded:
        # it keeps its context and finishes its message.
        script = r'''
import smtplib, ssl, subprocess, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("203.0.113.1", 25, timeout=30) as s:
    s.ehlo("client.example.org"); s.starttls(context=ctx); s.ehlo("client.example.org")
    s.mail("sender@example.org"); s.rcpt("someone@example.com")
    print("ready", flush=True)
    sys.stdin.readline()  # the test reloads here
    s.data(b"Subject: " + sys.argv[1].encode() + b"\r\n\r\nacross a reload\r\n")
print("sent")
'''
        tag = f"tls-reload-{time.time_ns()}"
        p = subprocess.Popen([labtool.LAB, "exec", "wan", labtool.PY, "-c", script, tag],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.assertEqual(p.stdout.readline().strip(), "ready")
        self.assertIn("certificates reloaded", labtool.cli("tls", "reload").stdout)
        out, _ = p.communicate("go\n", timeout=60)
        self.assertEqual(p.returncode, 0)
        self.assertIn("sent", out)
        lan_file_with(tag)

    def test_required_tls_refuses_mail_in_clear_with_530(self):
        try:
            labtool.cli("set", "tls.required", "on")
            out = raw([["send", "EHLO client.example.org\r\n"],
                       ["send", "MAIL FROM:<a@example.org>\r\n"], ["send", "STARTTLS\r\n"],
                       ["tls", ""], ["send", "EHLO client.example.org\r\n"],
                       ["send", "MAIL FROM:<a@example.org>\r\n"], ["send", "QUIT\r\n"]])
            self.assertTrue(out[2].startswith("530 5.7.0"), out)
            self.assertTrue(out[6].startswith("250"), out)
        finally:
            labtool.cli("set", "tls.required", "off")

    def test_required_networks_apply_to_their_senders_only(self):
        steps = [["send", "EHLO client.example.org\r\n"], ["send", "MAIL FROM:<a@example.org>\r\n"],
                 ["send", "QUIT\r\n"]]
        try:
            labtool.cli("set", "tls.required_networks", "203.0.113.0/24,2001:db8:1::/64")
            self.assertTrue(raw(steps)[2].startswith("530 5.7.0"))  # the lab client is 203.0.113.254
            labtool.cli("set", "tls.required_networks", "198.18.0.0/15")
            self.assertTrue(raw(steps)[2].startswith("250"))
        finally:
            labtool.cli("set", "tls.required_networks", "none")

    def test_bad_handshakes_end_the_connection_and_are_counted(self):
        before = counters()["failed"]
        garbage = "45484c4f20636c69656e742e6578616d706c652e6f72670d0a"  # "EHLO ..." in clear
        huge = "16030140000100" + "41" * 20000  # a ClientHello record claiming 16 KiB, then junk
        for hexdata in (garbage, huge):
            out = raw([["send", "EHLO client.example.org\r\n"], ["send", "STARTTLS\r\n"],
                       ["raw_then_read", hexdata]])
            self.assertTrue(out[-1] in ("closed", "error ConnectionResetError", "error TimeoutError")
                            or out[-2] == "closed", out)
        # A renegotiation (TLS 1.2): refused, the connection ends.
        r = s_client(["-tls1_2"], ["EHLO client.example.org\\r\\n", "R\\n", "NOOP\\r\\n"])
        self.assertIn("RENEGOTIATING", r.stdout + r.stderr)
        labtool.wait_for(lambda: counters()["failed"] >= before + 3, 10)

    def test_a_handshake_that_stops_half_way_is_freed_by_the_idle_timeout(self):
        try:
            labtool.cli("set", "smtp.idle_timeout_s", "2")
            out = raw([["send", "EHLO client.example.org\r\n"], ["send", "STARTTLS\r\n"],
                       ["raw_then_read", "1603010005"]])  # a record header, then silence
            self.assertIn(out[-1], ("closed", "error ConnectionResetError"), out)
        finally:
            labtool.cli("set", "smtp.idle_timeout_s", "300")


class PostfixOverTls(unittest.TestCase):
    def test_postfix_with_encrypt_relays_through_the_gateway(self):
        labtool.run([LAB_POSTFIX, "stop", "wan"], check=False)
        labtool.run([LAB_POSTFIX, "start", "wan", "--smtp-tls", "encrypt"], timeout=120)
        try:
            tag = f"tls-postfix-{time.time_ns()}"
            send = r'''
import smtplib, sys
with smtplib.SMTP("203.0.113.10", 25, timeout=30) as s:
    s.sendmail("sender@example.org", ["someone@example.com"], sys.stdin.buffer.read())
'''
            body = f"Subject: {tag}\r\n\r\nrelayed by Postfix over TLS\r\n"
            labtool.lab_exec("wan", [labtool.PY, "-c", send], input=body, timeout=60)
            lan_file_with(tag, timeout=60)
            log = labtool.run([LAB_POSTFIX, "postconf", "wan", "-h", "maillog_file"]).stdout.strip()
            with open(log) as f:
                self.assertRegex(f.read(), r"TLS connection established to 203\.0\.113\.1")
        finally:
            labtool.run([LAB_POSTFIX, "stop", "wan"], check=False)


class TlsTowardTheLan(unittest.TestCase):
    """Postfix as the LAN server, offering STARTTLS with a certificate made
    here for lan-mail.example.com; the gateway is its TLS client."""

    @classmethod
    def setUpClass(cls):
        cls.dir = "/run/smtpgw-lab-postfix-tls"
        os.makedirs(cls.dir, exist_ok=True)
        cls.cert, cls.key = cls.dir + "/lan.crt", cls.dir + "/lan.key"
        labtool.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                     "/CN=lan-mail.example.com", "-addext", "subjectAltName=DNS:lan-mail.example.com",
                     "-keyout", cls.key, "-out", cls.cert])
        os.chmod(cls.key, 0o644)  # Postfix reads it as root; the folder is root's
        labtool.run([labtool.LAB, "lan-server", "stop"])
        labtool.run([LAB_POSTFIX, "start", "lan", "--smtpd-tls", f"{cls.cert}:{cls.key}"], timeout=120)

    @classmethod
    def tearDownClass(cls):
        labtool.run([LAB_POSTFIX, "stop", "lan"], check=False)
        labtool.run([labtool.LAB, "lan-server", "start"], check=False)
        for f in (cls.cert, cls.key):
            if os.path.exists(f):
                os.unlink(f)

    def tearDown(self):
        labtool.cli("set", "tls.lan", "opportunistic")
        labtool.cli("set", "tls.lan_ca_file", "none")
        labtool.cli("set", "tls.lan_name", "none")

    def send(self, tag):
        body = f"Subject: {tag}\r\nFrom: <sender@example.org>\r\n\r\ntoward the LAN over TLS\r\n"
        send = r'''
import smtplib, sys
try:
    with smtplib.SMTP("203.0.113.1", 25, timeout=30) as s:
        s.sendmail("sender@example.org", ["someone@example.com"], sys.stdin.buffer.read())
    print("250")
except smtplib.SMTPResponseException as e:
    print(e.smtp_code, e.smtp_error.decode())
except smtplib.SMTPRecipientsRefused as e:
    print(list(e.recipients.values())[0][0], list(e.recipients.values())[0][1].decode())
'''
        return body, labtool.lab_exec("wan", [labtool.PY, "-c", send], input=body, timeout=60).stdout

    def maillog(self):
        path = labtool.run([LAB_POSTFIX, "postconf", "lan", "-h", "maillog_file"]).stdout.strip()
        with open(path) as f:
            return f.read()

    def test_required_and_verified_delivers_over_tls(self):
        labtool.cli("set", "tls.lan_ca_file", self.cert)
        labtool.cli("set", "tls.lan_name", "lan-mail.example.com")
        labtool.cli("set", "tls.lan", "required")
        tag = f"lan-tls-{time.time_ns()}"
        body, said = self.send(tag)
        self.assertTrue(said.startswith("250"), said)
        got = lan_file_with(tag, folder="/run/smtpgw-lab-postfix/postfix-lan/mail")
        self.assertEqual(labtool.split_received(got)[1], body.encode())
        self.assertRegex(self.maillog(), r"TLS connection established from unknown\[198\.51\.100\.1\]")

    def test_opportunistic_by_default_encrypts_without_checking(self):
        before = self.maillog().count("TLS connection established from")
        tag = f"lan-tls-opp-{time.time_ns()}"
        body, said = self.send(tag)
        self.assertTrue(said.startswith("250"), said)
        lan_file_with(tag, folder="/run/smtpgw-lab-postfix/postfix-lan/mail")
        self.assertEqual(self.maillog().count("TLS connection established from"), before + 1)

    def test_required_with_the_wrong_name_refuses_with_451_and_delivers_nothing(self):
        labtool.cli("set", "tls.lan_ca_file", self.cert)
        labtool.cli("set", "tls.lan_name", "other.example.com")
        labtool.cli("set", "tls.lan", "required")
        tag = f"lan-tls-bad-{time.time_ns()}"
        _, said = self.send(tag)
        self.assertTrue(said.startswith("451"), said)
        self.assertIn("4.7.5", said)
        time.sleep(1)
        for f in glob.glob("/run/smtpgw-lab-postfix/postfix-lan/mail/*.eml"):
            with open(f, "rb") as fh:
                self.assertNotIn(tag.encode(), fh.read())


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
