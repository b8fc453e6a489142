#!/usr/bin/python3
"""The soak's senders (run in smtpgw-wan by tests/lab/soak.py).

THREADS senders, each from its own source address, send a mixed load to the
gateway until SECONDS have passed, and write one JSON outcome per message to
OUT. The mix: clean mail of many sizes (plain and STARTTLS, through
smtplib), PIPELINING and BDAT sessions written by hand on a raw socket, the
EICAR file, SMTP smuggling attempts (a bare-LF end of data hiding a second
message) and relay probes. A 4xx answer is retried (at most 3 times, as an
MTA would); every message carries an X-Soak-Id and its SHA-256 is recorded,
so the soak can find it in the LAN server's store, byte for byte."""
import argparse
import base64
import hashlib
import json
import os
import random
import smtplib
import socket
import ssl
import threading
import time

GW = "203.0.113.1"
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIZES = [300, 4000, 40000, 400000, 2000000]
KINDS = [("clean", 40), ("tls", 15), ("pipelining", 10), ("bdat", 10), ("virus", 8),
         ("smuggle", 9), ("relay", 8)]


def message(soak_id, size, rng, payload=None):
    """A multipart message of about `size` octets; CRLF throughout."""
    head = (f"Message-ID: <{soak_id}@soak.example.org>\r\nX-Soak-Id: {soak_id}\r\n"
            f"From: sender@example.org\r\nTo: user@example.com\r\nSubject: soak {soak_id}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"soak-b\"\r\n\r\n")
    data = payload if payload is not None else rng.randbytes(max(16, size * 3 // 4))
    b64 = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (head.encode() + b"--soak-b\r\nContent-Type: text/plain\r\n\r\nsoak message "
            + soak_id.encode() + b"\r\n.leading dot line\r\n--soak-b\r\n"
            b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--soak-b--\r\n")


class Raw:
    """A hand-driven SMTP client on a socket (for PIPELINING, BDAT, smuggling)."""

    def __init__(self, source):
        self.s = socket.create_connection((GW, 25), timeout=60, source_address=(source, 0))
        self.buf = b""
        self.reply()  # banner

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed by the gateway")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"\n".join(l[4:] for l in lines).decode(errors="replace")

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        try:
            self.send(b"QUIT\r\n")
            self.reply()
        except OSError:
            pass
        self.s.close()


def stuff(body):
    out = body.replace(b"\r\n.", b"\r\n..")
    return (b"." + out) if out.startswith(b".") else out


def send_one(kind, soak_id, source, rng):
    """Returns (code, text, sha256 of the content or "", phase)."""
    size = rng.choice(SIZES)
    if kind in ("clean", "tls"):
        body = message(soak_id, size, rng)
        with smtplib.SMTP(GW, 25, timeout=60, source_address=(source, 0)) as s:
            s.ehlo("soak.example.org")
            if kind == "tls":
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s.starttls(context=ctx)
                s.ehlo("soak.example.org")
            s.sendmail("sender@example.org", ["user@example.com"], body)
        return 250, "ok", hashlib.sha256(body).hexdigest(), "data"
    if kind == "virus":
        body = message(soak_id, 0, rng, payload=EICAR)
        try:
            with smtplib.SMTP(GW, 25, timeout=60, source_address=(source, 0)) as s:
                s.sendmail("sender@example.org", ["user@example.com"], body)
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error.decode(errors="replace"), "", "data"
        return 250, "ok", hashlib.sha256(body).hexdigest(), "data"
    if kind == "relay":
        with smtplib.SMTP(GW, 25, timeout=60, source_address=(source, 0)) as s:
            s.ehlo("soak.example.org")
            code, text = s.mail("sender@example.org")
            if code != 250:  # e.g. 451 while the LAN server restarts: retried
                return code, text.decode(errors="replace"), "", "mail"
            code, text = s.rcpt(f"victim-{soak_id}@example.net")
            return code, text.decode(errors="replace"), "", "rcpt"
    r = Raw(source)
    try:
        r.send(b"EHLO soak.example.org\r\n")
        r.reply()
        if kind == "pipelining":
            body = message(soak_id, size, rng)
            r.send(b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<user@example.com>\r\nDATA\r\n")
            for phase in ("mail", "rcpt", "data"):
                code, text = r.reply()
                if code >= 400:
                    return code, text, "", phase
            r.send(stuff(body) + b".\r\n")
            code, text = r.reply()
            return code, text, hashlib.sha256(body).hexdigest() if code == 250 else "", "data"
        if kind == "bdat":
            body = message(soak_id, size, rng)
            cut = rng.randrange(1, len(body))
            r.send(b"MAIL FROM:<sender@example.org>\r\n")
            r.reply()
            r.send(b"RCPT TO:<user@example.com>\r\n")
            code, text = r.reply()
            if code >= 400:
                return code, text, "", "rcpt"
            r.send(b"BDAT %d\r\n" % cut + body[:cut])
            code, text = r.reply()
            if code >= 400:
                return code, text, "", "data"
            r.send(b"BDAT %d LAST\r\n" % (len(body) - cut) + body[cut:])
            code, text = r.reply()
            return code, text, hashlib.sha256(body).hexdigest() if code == 250 else "", "data"
        # smuggle: a bare-LF end of data with a second transaction behind it.
        # The smuggled message's id (smuggled-ID) must never reach the LAN.
        inner = (b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<user@example.com>\r\nDATA\r\n"
                 b"X-Soak-Id: smuggled-" + soak_id.encode() + b"\r\n\r\nsmuggled\r\n.\r\n")
        ending = rng.choice([b"\r\n.\n", b"\n.\r\n", b"\n.\n", b"\r.\r\n"])
        r.send(b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<user@example.com>\r\nDATA\r\n")
        for phase in ("mail", "rcpt", "data"):
            code, text = r.reply()
            if code >= 400:
                return code, text, "", phase
        outer = (f"X-Soak-Id: {soak_id}\r\nSubject: smuggle\r\n\r\nhello".encode() + ending + inner)
        r.send(outer + b"\r\n.\r\n")
        code, text = r.reply()
        return code, text, "", "data"
    finally:
        r.close()


def sender(index, source, deadline, seed, out, lock):
    rng = random.Random(seed * 1000 + index)
    kinds = [k for k, w in KINDS for _ in range(w)]
    n = 0
    while time.time() < deadline:
        n += 1
        kind = rng.choice(kinds)
        soak_id = f"s{seed}-{index}-{n}"
        record = {"id": soak_id, "kind": kind, "source": source, "t0": time.time(), "tries": 0}
        for attempt in range(4):
            record["tries"] = attempt + 1
            try:
                code, text, sha, phase = send_one(kind, soak_id, source, rng)
            except smtplib.SMTPResponseException as e:
                code, text, sha, phase = e.smtp_code, e.smtp_error.decode(errors="replace"), "", "?"
            except (OSError, smtplib.SMTPException) as e:
                code, text, sha, phase = 0, repr(e), "", "?"
            if not 400 <= code < 500:
                break
            time.sleep(1)  # deferred: try again, as an MTA would
        record.update(code=code, text=text[:200], sha256=sha, phase=phase, t1=time.time())
        with lock:
            out.write(json.dumps(record) + "\n")
            out.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--sources", required=True, help="comma-separated, one sender each")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    deadline = time.time() + a.seconds
    lock = threading.Lock()
    with open(a.out, "w") as out:
        threads = [threading.Thread(target=sender, args=(i, s, deadline, a.seed, out, lock))
                   for i, s in enumerate(a.sources.split(","))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


if __name__ == "__main__":
    main()
