#!/usr/bin/python3
"""Kernel-side TCP peers for the lab's TCP tests, run inside a lab namespace
(`scripts/lab exec wan|lan`). The Linux kernel is the peer; this script only
drives sockets and checks bytes. Every mode is bounded in bytes and time and
prints one JSON line with what it saw.

  echo HOST PORT BYTES          send random bytes, half-close, read them back
  chargen HOST PORT BYTES       read BYTES of the i mod 251 pattern, then close
  discard HOST PORT BYTES       send BYTES, half-close, expect the server's FIN
  short HOST PORT COUNT         COUNT short echo connections in a row
  abort HOST PORT               connect, send, close with RST (SO_LINGER 0)
  serve-echo ADDR PORT SECONDS  kernel echo server (for the relay), stops itself
  connect SRC HOST PORT TIMEOUT one connection from source SRC: did it open?
  hold SRC HOST PORT SECONDS    open from SRC, then wait: closed by RST, or still open?
  burst SRC HOST PORT COUNT     COUNT connections from SRC as fast as possible (1 s timeout)
"""
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

TIMEOUT = float(os.environ.get("TCP_PEER_TIMEOUT", "60"))


def connect(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect((host, port))
    return s


def echo(host, port, nbytes):
    s = connect(host, port)
    t0 = time.monotonic()
    data = os.urandom(nbytes)
    got = hashlib.sha256()
    count = [0]

    def reader():
        while True:
            b = s.recv(1 << 20)
            if not b:
                return
            got.update(b)
            count[0] += len(b)

    th = threading.Thread(target=reader)
    th.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)  # half-close: the echo keeps flowing back
    th.join(TIMEOUT * 4)
    s.close()
    dt = time.monotonic() - t0
    return {"sent": nbytes, "received": count[0],
            "same": got.hexdigest() == hashlib.sha256(data).hexdigest(),
            "seconds": round(dt, 3), "mbytes_per_s": round(2 * nbytes / dt / 1e6, 1)}


def chargen(host, port, nbytes):
    s = connect(host, port)
    buf = bytearray()
    while len(buf) < nbytes:
        b = s.recv(min(1 << 20, nbytes - len(buf)))
        if not b:
            break
        buf += b
    s.close()
    expected = (bytes(range(251)) * (nbytes // 251 + 1))[:nbytes]
    return {"received": len(buf), "same": bytes(buf) == expected}


def discard(host, port, nbytes):
    s = connect(host, port)
    s.sendall(os.urandom(nbytes))
    s.shutdown(socket.SHUT_WR)
    eof = s.recv(1) == b""
    s.close()
    return {"sent": nbytes, "server_closed": eof}


def short(host, port, count):
    t0 = time.monotonic()
    ok = 0
    for i in range(count):
        s = connect(host, port)
        msg = b"hello %d\n" % i
        s.sendall(msg)
        s.shutdown(socket.SHUT_WR)
        back = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            back += b
        s.close()
        ok += back == msg
    dt = time.monotonic() - t0
    return {"count": count, "ok": ok, "seconds": round(dt, 3),
            "per_second": round(count / dt, 1)}


def abort(host, port):
    s = connect(host, port)
    s.sendall(b"x" * 1000)
    time.sleep(0.2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # RST instead of FIN
    return {"aborted": True}


def serve_echo(addr, port, seconds):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(64)
    srv.settimeout(0.5)
    served = [0]
    deadline = time.monotonic() + seconds

    def handle(c):
        c.settimeout(TIMEOUT)
        try:
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()
            served[0] += 1

    print(json.dumps({"listening": f"{addr}:{port}"}), flush=True)
    while time.monotonic() < deadline:
        try:
            c, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()
    srv.close()
    return {"served": served[0]}


def connect_from(src, host, port, timeout):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((host, port))
    return s


def connect_once(src, host, port, timeout):
    try:
        connect_from(src, host, port, timeout).close()
        return {"connected": True}
    except (socket.timeout, OSError) as e:
        return {"connected": False, "error": type(e).__name__}


def hold(src, host, port, seconds):
    s = connect_from(src, host, port, 5)
    s.settimeout(seconds)
    try:
        data = s.recv(1)
        return {"reset": False, "eof": data == b""}
    except ConnectionResetError:
        return {"reset": True}
    except socket.timeout:
        return {"reset": False, "open": True}


def burst(src, host, port, count):
    ok = 0
    for _ in range(count):
        try:
            connect_from(src, host, port, 1).close()
            ok += 1
        except (socket.timeout, OSError):
            pass
    return {"count": count, "connected": ok}


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        r = echo(args[0], int(args[1]), int(args[2]))
    elif mode == "chargen":
        r = chargen(args[0], int(args[1]), int(args[2]))
    elif mode == "discard":
        r = discard(args[0], int(args[1]), int(args[2]))
    elif mode == "short":
        r = short(args[0], int(args[1]), int(args[2]))
    elif mode == "abort":
        r = abort(args[0], int(args[1]))
    elif mode == "serve-echo":
        r = serve_echo(args[0], int(args[1]), float(args[2]))
    elif mode == "connect":
        r = connect_once(args[0], args[1], int(args[2]), float(args[3]))
    elif mode == "hold":
        r = hold(args[0], args[1], int(args[2]), float(args[3]))
    elif mode == "burst":
        r = burst(args[0], args[1], int(args[2]), int(args[3]))
    else:
        sys.exit("unknown mode " + mode)
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
