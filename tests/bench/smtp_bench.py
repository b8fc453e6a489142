#!/usr/bin/python3
"""Measuring helpers for tests/bench/smtp_baselines.sh (stdlib only).

  smtp_bench.py latency --server IP [--port 25] [--messages N] [--sessions 20]
                        [--length 2048] [--from A] [--to B] [--helo H] [--timeout S]
      A load generator that measures each message. It speaks exactly what
      Postfix's smtp-source speaks with `-l LENGTH -s SESSIONS -m N -f A -t B -M H`:
      one message per connection (connect, banner, HELO, MAIL, RCPT, DATA, the
      same headers and the same LENGTH-byte body smtp-source builds, ".", QUIT),
      one command at a time (smtp-source does not pipeline), SESSIONS connections
      in parallel, closed loop (a session starts its next message when the last
      one is done). Per message it records the time from connect() to the 250
      after "." (the message accepted) and to the banner. Prints one JSON object.
  smtp_bench.py cpu PID...
      CPU seconds (user+system, plus reaped children) of each PID and all its live
      descendants, summed: sample before and after a run, subtract.
  smtp_bench.py machine
      CPU seconds the whole machine spent busy (every CPU, /proc/stat).
  smtp_bench.py run OUT.json -- CMD...
      Runs CMD, writes its wall time, exit status and CPU time (rusage of it and
      its reaped descendants) to OUT.json; passes stdout/stderr through.
"""
import argparse
import errno
import json
import os
import selectors
import socket
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def smtp_source_body(length):
    """The payload smtp-source -l LENGTH sends: LENGTH bytes of 'X' cut into
    80-byte lines (a digit, 77 X, CRLF); the last, partial line goes out with a
    CRLF too. (Checked byte for byte against smtp-sink -D captures of both.)"""
    data = bytearray(b"X" * length)
    for i in range(80, length, 80):
        data[i - 80] = ord("0123456789"[(i // 80) % 10])
        data[i - 2:i] = b"\r\n"
    lines = bytes(data).split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join(line + b"\r\n" for line in lines)


class Session:
    # (state, the reply code that ends it, the command sent when it ends)
    STEPS = ["banner", "helo", "mail", "rcpt", "data", "dot", "quit"]
    EXPECT = {"banner": b"220", "helo": b"250", "mail": b"250", "rcpt": b"250",
              "data": b"354", "dot": b"250", "quit": b"221"}

    def __init__(self, run, seq):
        self.run = run
        self.seq = seq
        self.step = 0
        self.buf = b""
        self.out = b""
        self.t0 = time.perf_counter()
        self.t_banner = None
        self.t_accept = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        err = self.sock.connect_ex((run.server, run.port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))
        self.connecting = True
        run.sel.register(self.sock, selectors.EVENT_WRITE, self)

    def command_after(self, state):
        r = self.run
        if state == "banner":
            return b"HELO " + r.helo + b"\r\n"
        if state == "helo":
            return b"MAIL FROM:<" + r.sender + b">\r\n"
        if state == "mail":
            return b"RCPT TO:<" + r.rcpt + b">\r\n"
        if state == "rcpt":
            return b"DATA\r\n"
        if state == "data":
            return r.message(self.seq) + b".\r\n"
        if state == "dot":
            return b"QUIT\r\n"
        return b""

    def send(self, data):
        self.out += data
        self.flush()

    def flush(self):
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                break
            self.out = self.out[n:]
        self.run.sel.modify(self.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0), self)

    def on_event(self, mask):
        if self.connecting:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, "connect: " + os.strerror(err))
            self.connecting = False
            self.run.sel.modify(self.sock, selectors.EVENT_READ, self)
            return
        if mask & selectors.EVENT_WRITE:
            self.flush()
        if not mask & selectors.EVENT_READ:
            return
        data = self.sock.recv(65536)
        if not data:
            raise OSError("connection closed by the server in state %s" % self.STEPS[self.step])
        self.buf += data
        while b"\r\n" in self.buf:
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line[3:4] == b"-":
                continue  # a multi-line reply goes on
            state = self.STEPS[self.step]
            if line[:3] != self.EXPECT[state]:
                raise OSError("unexpected reply in state %s: %r" % (state, line[:200]))
            now = time.perf_counter()
            if state == "banner":
                self.t_banner = now
            elif state == "dot":
                self.t_accept = now
            elif state == "quit":
                self.finish(now)
                return
            self.step += 1
            self.send(self.command_after(state))

    def finish(self, now):
        self.run.sel.unregister(self.sock)
        self.sock.close()
        self.run.done(self, now)


class Run:
    def __init__(self, a):
        self.server, self.port = a.server, a.port
        self.helo = a.helo.encode()
        self.sender, self.rcpt = a.sender.encode(), a.rcpt.encode()
        self.total, self.sessions, self.deadline = a.messages, a.sessions, a.timeout
        self.body = smtp_source_body(a.length)
        self.head = (b"From: <" + self.sender + b">\r\nTo: <" + self.rcpt + b">\r\n")
        self.date = time.strftime("%a, %d %b %Y %H:%M:%S +0000 (UTC)", time.gmtime()).encode()
        self.pid = os.getpid() & 0xFFFF
        self.sel = selectors.DefaultSelector()
        self.started = 0
        self.accept_ms = []
        self.banner_ms = []
        self.session_ms = []

    def message(self, seq):
        # smtp-source: From, To, Date, Message-Id <pid.count.session@helo>, blank line, body.
        mid = b"<%04x.%04x.%04x@%s>" % (self.pid, seq & 0xFFFF, 0, self.helo)
        return self.head + b"Date: " + self.date + b"\r\nMessage-Id: " + mid + b"\r\n\r\n" + self.body

    def start_one(self):
        self.started += 1
        Session(self, self.started)

    def done(self, s, now):
        self.accept_ms.append((s.t_accept - s.t0) * 1000.0)
        self.banner_ms.append((s.t_banner - s.t0) * 1000.0)
        self.session_ms.append((now - s.t0) * 1000.0)
        if self.started < self.total:
            self.start_one()

    def go(self):
        t0 = time.perf_counter()
        for _ in range(min(self.sessions, self.total)):
            self.start_one()
        while len(self.accept_ms) < self.total:
            left = self.deadline - (time.perf_counter() - t0)
            if left <= 0:
                raise TimeoutError("%d of %d messages done in %.0f s" % (len(self.accept_ms), self.total, self.deadline))
            events = self.sel.select(min(left, 1.0))
            for key, mask in events:
                key.data.on_event(mask)
        return time.perf_counter() - t0


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))  # nearest rank
    return round(v[k], 3)


def cmd_latency(a):
    r = Run(a)
    try:
        elapsed = r.go()
    except (OSError, TimeoutError) as e:
        print(json.dumps({"error": str(e), "done": len(r.accept_ms)}))
        return 1
    out = {"messages": len(r.accept_ms), "sessions": a.sessions, "seconds": round(elapsed, 3),
           "msgs_per_s": round(len(r.accept_ms) / elapsed, 1)}
    for name, vals in (("accept", r.accept_ms), ("banner", r.banner_ms), ("session", r.session_ms)):
        out[name + "_ms"] = {"p50": pct(vals, 50), "p90": pct(vals, 90), "p99": pct(vals, 99),
                             "max": round(max(vals), 3), "mean": round(sum(vals) / len(vals), 3)}
    print(json.dumps(out))
    return 0


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is state (field 3); ppid=4, utime=14, stime=15, cutime=16, cstime=17
    return int(fields[1]), sum(int(x) for x in fields[11:15])


def cmd_cpu(a):
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                procs[int(d)] = proc_stat(int(d))
            except (OSError, ValueError):
                pass
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo, ticks = set(), list(a.pids), 0
    while todo:
        p = todo.pop()
        if p in seen or p not in procs:
            continue
        seen.add(p)
        ticks += procs[p][1]
        todo.extend(children.get(p, []))
    print("%.3f" % (ticks / TICK))
    return 0


def cmd_machine(_a):
    with open("/proc/stat") as f:
        cpu = f.readline().split()
    # user nice system idle iowait irq softirq steal ...
    busy = sum(int(x) for i, x in enumerate(cpu[1:9]) if i not in (3, 4))
    print("%.3f" % (busy / TICK))
    return 0


def cmd_run(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    with open(a.out, "w") as f:
        json.dump({"rc": rc, "seconds": round(wall, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3)}, f)
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--server", required=True)
    lat.add_argument("--port", type=int, default=25)
    lat.add_argument("--messages", type=int, default=1000)
    lat.add_argument("--sessions", type=int, default=20)
    lat.add_argument("--length", type=int, default=2048)
    lat.add_argument("--from", dest="sender", default="sender@example.org")
    lat.add_argument("--to", dest="rcpt", default="rcpt@example.com")
    lat.add_argument("--helo", default="[203.0.113.10]")
    lat.add_argument("--timeout", type=float, default=120)
    cpu = sub.add_parser("cpu")
    cpu.add_argument("pids", type=int, nargs="+")
    sub.add_parser("machine")
    run = sub.add_parser("run")
    run.add_argument("out")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    return {"latency": cmd_latency, "cpu": cmd_cpu, "machine": cmd_machine, "run": cmd_run}[a.what](a)


if __name__ == "__main__":
    sys.exit(main())
