#!/usr/bin/python3
"""Lab: the SMTP engine (issue 5) against real clients no one here wrote.

Python smtplib and swaks in smtpgw-wan send through the gateway
(203.0.113.1:25) to the LAN server (198.51.100.25), whose mail folder must
then hold each accepted body byte-exact; relaying for foreign domains is
refused with 5.7.1; SMTP smuggling sequences never end DATA early nor reach
the LAN server; a stopped LAN server gives the sender a 4xx and nothing
half-delivered, and the sender's retry succeeds once it is back; a sender
that disconnects mid-DATA delivers nothing; with 5% loss injected on both
ports, every one of 200 messages that got its 250 is delivered exactly once."""
import glob
import json
import os
import re
import subprocess
import time
import unittest

import labtool

MAILDIR = "/run/smtpgw-lab/lan-mail"
GW = "203.0.113.1"

# Runs in smtpgw-wan: sends one message with smtplib, prints the outcome.
SEND = r'''
import json, smtplib, sys
spec = json.loads(sys.argv[1])
body = sys.stdin.buffer.read()
out = {}
try:
    with smtplib.SMTP(spec["host"], 25, timeout=30) as s:
        code, ehlo = s.ehlo("client.example.org")
        out["ehlo"] = ehlo.decode(errors="replace")
        opts = spec.get("mail_options", [])
        refused = s.sendmail(spec["from"], spec["to"], body, mail_options=opts)
        out["refused"] = {k: [v[0], v[1].decode(errors="replace")] for k, v in refused.items()}
        out["ok"] = True
except smtplib.SMTPRecipientsRefused as e:
    out["ok"] = False
    out["error"] = "recipients"
    out["refused"] = {k: [v[0], v[1].decode(errors="replace")] for k, v in e.recipients.items()}
except smtplib.SMTPResponseException as e:
    out["ok"] = False
    out["error"] = type(e).__name__
    out["code"] = e.smtp_code
    out["reply"] = e.smtp_error.decode(errors="replace")
print(json.dumps(out))
'''

# Runs in smtpgw-wan: a raw conversation; each step is sent, then the replies
# up to the expected count are read. Prints every reply line.
RAW = r'''
import json, socket, sys, time
steps = json.loads(sys.argv[1])
s = socket.create_connection(("203.0.113.1", 25), timeout=15)
f = s.makefile("rb")
def replies(n):
    got = []
    for _ in range(n):
        while True:
            line = f.readline()
            if not line:
                return got
            got.append(line.decode(errors="replace").rstrip("\r\n"))
            if line[3:4] != b"-":
                break
    return got
out = {"banner": replies(1), "steps": []}
for data, expect in steps:
    if data == "CLOSE":
        s.close()
        break
    s.sendall(data.encode("latin-1"))
    out["steps"].append(replies(expect))
print(json.dumps(out))
'''


def new_messages(before):
    return sorted(set(glob.glob(os.path.join(MAILDIR, "*.eml"))) - before)


def messages_now():
    return set(glob.glob(os.path.join(MAILDIR, "*.eml")))


def send(body, to=("someone@example.com",), sender="sender@example.org", options=()):
    spec = {"host": GW, "from": sender, "to": list(to), "mail_options": list(options)}
    r = labtool.lab_exec("wan", [labtool.PY, "-c", SEND, json.dumps(spec)],
                         input=body.decode("latin-1"), timeout=60, check=False)
    if r.returncode != 0:
        raise AssertionError(f"smtplib client failed: {r.stdout}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def raw(steps):
    r = labtool.lab_exec("wan", [labtool.PY, "-c", RAW, json.dumps(steps)], timeout=60,
                         check=False)
    if r.returncode != 0:
        raise AssertionError(f"raw client failed: {r.stdout}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def wait_for_new(before, count=1, timeout=10):
    labtool.wait_for(lambda: len(new_messages(before)) >= count, timeout)
    return new_messages(before)


def unique_body(tag, extra=""):
    marker = f"{tag}-{time.time_ns()}"
    return marker, (f"Subject: {marker}\r\nFrom: sender@example.org\r\n"
                    f"To: someone@example.com\r\n\r\n{extra}last line\r\n").encode()


class Smtp(unittest.TestCase):
    def test_smtplib_mail_reaches_the_lan_server_byte_exact(self):
        before = messages_now()
        # Lines starting with dots exercise unstuffing (ours) and restuffing
        # (toward the LAN server); a long body spans many TCP segments.
        _, body = unique_body("smtplib", ".starts with a dot\r\n..two dots\r\n" +
                              "".join(f"line {i:05d} {'x' * 60}\r\n" for i in range(3000)))
        r = send(body)
        self.assertTrue(r["ok"], r)
        self.assertIn("PIPELINING", r["ehlo"])
        self.assertIn("ENHANCEDSTATUSCODES", r["ehlo"])
        self.assertIn("CHUNKING", r["ehlo"])
        new = wait_for_new(before)
        self.assertEqual(len(new), 1, new)
        with open(new[0], "rb") as f:
            trace, rest = labtool.split_received(f.read())
        self.assertEqual(rest, body)  # the sender's octets, after our trace line
        self.assertEqual(trace["with"], b"ESMTP")
        self.assertEqual(trace["helo"], b"client.example.org")
        self.assertEqual(trace["rcpt"], b"someone@example.com")
        with open(new[0][:-4] + ".json") as f:
            env = json.load(f)
        self.assertEqual(env["mail_from"], "sender@example.org")
        self.assertEqual(env["rcpt_tos"], ["someone@example.com"])

    def test_relaying_for_a_foreign_domain_is_refused(self):
        before = messages_now()
        for rcpt in ("victim@example.org", "victim%example.org@example.com",
                     "@example.com:victim@example.org", "victim@example.org.",
                     "victim@[192.0.2.1]", '"victim@example.org"@example.com'):
            r = send(unique_body("relay")[1], to=[rcpt])
            self.assertFalse(r["ok"], (rcpt, r))
            code, text = r["refused"][rcpt]
            self.assertTrue(500 <= code < 600, (rcpt, code, text))
        time.sleep(0.5)
        self.assertEqual(new_messages(before), [])

    def test_one_refused_recipient_does_not_stop_the_others(self):
        before = messages_now()
        r = send(unique_body("mixed")[1], to=["someone@example.com", "victim@example.net"])
        self.assertTrue(r["ok"], r)
        self.assertEqual(list(r["refused"]), ["victim@example.net"])
        self.assertEqual(r["refused"]["victim@example.net"][0], 554)
        self.assertEqual(len(wait_for_new(before)), 1)

    def test_swaks_plain_and_pipelined_with_an_attachment(self):
        for extra in ([], ["--pipeline"]):
            before = messages_now()
            marker = f"swaks-{time.time_ns()}"
            attachment = "/tmp/smtpgw-swaks-attachment.bin"
            with open(attachment, "wb") as f:
                f.write(bytes(range(256)) * 64)
            r = labtool.lab_exec(
                "wan", ["swaks", "--server", GW, "--from", "sender@example.org", "--to",
                        "someone@example.com", "--helo", "client.example.org", "--header",
                        f"Subject: {marker}", "--attach", attachment, "--timeout", "20"] + extra,
                timeout=60, check=False)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
            self.assertRegex(r.stdout, r"<-\s+250 2\.0\.0 Ok: kept", r.stdout[-3000:])
            new = wait_for_new(before)
            with open(new[0], "rb") as f:
                got = f.read()
            self.assertIn(marker.encode(), got)
            self.assertNotIn(b"\n.\r\n", got[:-5])

    def test_smuggling_sequences_never_end_data_nor_reach_the_lan_server(self):
        for seq in ("\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r", "\r.\r\n"):
            before = messages_now()
            smuggled = ("MAIL FROM:<evil@example.org>\r\nRCPT TO:<admin@example.com>\r\n"
                        "DATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
            r = raw([["EHLO client.example.org\r\n", 1],
                     ["MAIL FROM:<sender@example.org>\r\n", 1],
                     ["RCPT TO:<someone@example.com>\r\n", 1],
                     ["DATA\r\n", 1],
                     ["Subject: carrier\r\n\r\nbody" + seq + smuggled + "tail\r\n.\r\n", 1],
                     ["QUIT\r\n", 1]])
            final = r["steps"][4]
            self.assertEqual(len(final), 1, (repr(seq), r))
            # Refused as a whole (default bare-newline policy: reject).
            self.assertRegex(final[0], r"^5\d\d ", (repr(seq), r))
            time.sleep(0.3)
            self.assertEqual(new_messages(before), [], repr(seq))

    def test_a_sender_that_disconnects_mid_data_delivers_nothing(self):
        before = messages_now()
        raw([["EHLO client.example.org\r\n", 1], ["MAIL FROM:<sender@example.org>\r\n", 1],
             ["RCPT TO:<someone@example.com>\r\n", 1], ["DATA\r\n", 1],
             ["Subject: cut\r\n\r\nhalf a message\r\n", 0], ["CLOSE", 0]])
        time.sleep(1.0)
        self.assertEqual(new_messages(before), [])
        out = labtool.cli("show", "smtp").stdout
        self.assertRegex(out, r"messages_aborted\s+[1-9]", out)

    def test_lan_server_down_gives_4xx_and_the_retry_succeeds(self):
        labtool.run([labtool.LAB, "lan-server", "stop"])
        try:
            before = messages_now()
            r = send(unique_body("down")[1])
            self.assertFalse(r["ok"], r)
            code = r.get("code") or list(r["refused"].values())[0][0]
            self.assertTrue(400 <= code < 500, r)
            time.sleep(0.5)
            self.assertEqual(new_messages(before), [])
        finally:
            labtool.run([labtool.LAB, "lan-server", "start"])
        marker, body = unique_body("retry")
        before = messages_now()
        self.assertTrue(send(body)["ok"])
        self.assertEqual(len(wait_for_new(before)), 1)

    def test_an_early_talker_is_refused_and_auto_listed(self):
        peer = "198.18.0.77"
        labtool.run(["ip", "-n", "smtpgw-wan", "addr", "add", peer + "/32", "dev", "lo"], check=False)
        labtool.cli("peer-filter", "auto-list", "60")
        try:
            talker = r'''
import socket
s = socket.create_connection(("203.0.113.1", 25), timeout=10, source_address=("198.18.0.77", 0))
f = s.makefile("rb")
print(f.readline().decode().strip())
s.sendall(b"EHLO bot.example.org\r\nMAIL FROM:<bot@example.org>\r\n")
print(f.read().decode().strip().splitlines()[-1])
'''
            r = labtool.lab_exec("wan", [labtool.PY, "-c", talker], timeout=30, check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout.splitlines()[-1], r"^554 ", r.stdout)
            labtool.wait_for(lambda: "LISTED by dynamic" in
                             labtool.cli("peer-filter", "test", peer).stdout, 5)
            out = labtool.cli("show", "peer-filter").stdout
            self.assertRegex(out, r"misbehaving_reported\s+[1-9]", out)
        finally:
            labtool.cli("peer-filter", "auto-list", "0")
            labtool.cli("peer-filter", "del", peer, check=False)
            labtool.run(["ip", "-n", "smtpgw-wan", "addr", "del", peer + "/32", "dev", "lo"],
                        check=False)

    def test_under_5_percent_loss_every_250d_message_is_delivered_exactly_once(self):
        tag = f"soak-{time.time_ns()}"
        soak = r'''
import json, smtplib, sys
tag, ok, failed = sys.argv[1], [], []
for i in range(200):
    body = (f"Subject: {tag}-{i:04d}\r\n\r\nmessage {i}\r\n" + ("x" * 70 + "\r\n") * 20).encode()
    try:
        with smtplib.SMTP("203.0.113.1", 25, timeout=20) as s:
            s.sendmail("sender@example.org", ["someone@example.com"], body)
        ok.append(i)
    except Exception as e:
        failed.append(i)
print(json.dumps({"ok": ok, "failed": failed}))
'''
        labtool.cli("set", "fault", "wan", "loss=5,seed=7")
        labtool.cli("set", "fault", "lan", "loss=5,seed=8")
        try:
            r = labtool.lab_exec("wan", [labtool.PY, "-c", soak, tag], timeout=500, check=False)
        finally:
            labtool.cli("set", "fault", "wan", "off")
            labtool.cli("set", "fault", "lan", "off")
        self.assertEqual(r.returncode, 0, r.stderr)
        result = json.loads(r.stdout.strip().splitlines()[-1])
        counts = {}
        for f in glob.glob(os.path.join(MAILDIR, "*.eml")):
            with open(f, "rb") as fh:
                m = re.search(rb"Subject: " + tag.encode() + rb"-(\d{4})\r\n", fh.read())
            if m:
                counts[int(m.group(1))] = counts.get(int(m.group(1)), 0) + 1
        self.assertGreater(len(result["ok"]), 150, result)  # loss slows, it does not refuse
        for i in result["ok"]:
            self.assertEqual(counts.get(i, 0), 1, (i, result))
        for i in result["failed"]:  # not acknowledged: at most once (the sender retries)
            self.assertLessEqual(counts.get(i, 0), 1, i)

    def test_every_message_and_refusal_is_logged(self):
        marker, body = unique_body("logged")
        send(body)
        send(unique_body("refused")[1], to=["victim@example.org"])
        log = "/run/smtpgw-lab/mail.log"

        def logged():
            if not os.path.exists(log):
                return False
            text = open(log).read()
            return "status=sent" in text and "to=<victim@example.org>" in text
        labtool.wait_for(logged, 5)
        text = open(log).read()
        self.assertRegex(text, r"id=\S+ client=203\.0\.113\.\d+ helo=<client\.example\.org> "
                               r"from=<sender@example\.org> to=<someone@example\.com> size=\d+ "
                               r"status=sent reply=\"250 ", text[-2000:])
        self.assertRegex(text, r"status=rejected reply=\"554 5\.7\.1 Relay access denied\" "
                               r"command=\"rcpt TO:<victim@example\.org>\"", text[-2000:])


    def test_json_lines_go_to_the_file_and_to_syslog(self):
        import socket
        sock_path = "/run/smtpgw-lab/test-syslog.sock"
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(sock_path)
        listener.settimeout(10)
        try:
            labtool.cli("set", "smtp.log_format", "json")
            labtool.cli("set", "smtp.log_syslog", sock_path)
            marker, body = unique_body("json")
            send(body)
            datagram = listener.recv(65536).decode()
            self.assertRegex(datagram, r"^<22>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d smtpgw\[\d+\]: \{")
            record = json.loads(datagram.split("]: ", 1)[1])
            self.assertEqual(record["status"], "sent")
            self.assertEqual(record["to"], ["someone@example.com"])
            self.assertEqual(record["reply"]["code"], 250)
            # The daemon sends each datagram as it writes the line, and
            # flushes the file after the batch: wait for the line there.
            def json_lines():
                with open("/run/smtpgw-lab/mail.log") as f:
                    return [l for l in f if l.startswith("{")]
            labtool.wait_for(lambda: any(record["id"] in l for l in json_lines()), 5)
            on_file = json.loads([l for l in json_lines() if record["id"] in l][-1])
            self.assertRegex(on_file["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            self.assertEqual(on_file["id"], record["id"])
        finally:
            labtool.cli("set", "smtp.log_format", "text")
            labtool.cli("set", "smtp.log_syslog", "none")
            listener.close()
            os.unlink(sock_path)


if __name__ == "__main__":
    unittest.main()
