#!/usr/bin/python3
"""Lab: the console as a person uses it over a serial line: `scripts/lab
console` in a tmux pane of 80x24 with TERM=vt100; keys are typed, the screen
is read back. `?` answers in place without Enter and keeps the line, TAB
completes, long output stops at --More--, `monitor` redraws the live view
and q leaves it, `exit` ends the console."""
import os
import subprocess
import sys
import time
import unittest

import labtool

SESSION = "smtpgw-console-test"


def tmux(*args, check=True):
    return subprocess.run(["tmux"] + list(args), capture_output=True, text=True, timeout=30,
                          check=check)


def screen():
    return tmux("capture-pane", "-t", SESSION, "-p").stdout


def keys(*k):
    tmux("send-keys", "-t", SESSION, *k)


def wait_screen(predicate, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = screen()
        if predicate(s):
            return s
        time.sleep(0.1)
    raise AssertionError(f"screen never showed {what}:\n{screen()}")


def last_line(s):
    lines = [l for l in s.splitlines() if l.strip()]
    return lines[-1] if lines else ""


class Console(unittest.TestCase):
    def setUp(self):
        tmux("kill-session", "-t", SESSION, check=False)
        env = f"TERM=vt100 SMTPGW_BUILD={labtool.BUILD}"
        tmux("new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24",
             f"env {env} {labtool.LAB} console")
        self.prompt = os.uname().nodename + "> "
        wait_screen(lambda s: last_line(s).startswith(self.prompt.strip()), "the prompt")

    def tearDown(self):
        tmux("kill-session", "-t", SESSION, check=False)

    def test_question_mark_helps_in_place_and_keeps_the_line(self):
        keys("show ")
        keys("?")
        s = wait_screen(lambda s: "interfaces" in s and "peer-filter" in s, "help for show")
        self.assertEqual(last_line(s).rstrip(), self.prompt + "show")
        keys("int", "Tab")
        wait_screen(lambda s: last_line(s).startswith(self.prompt + "show interfaces"), "completion")
        keys("Enter")
        wait_screen(lambda s: "link  up" in s and last_line(s).strip() == self.prompt.strip(),
                    "show interfaces output")

    def test_abbreviations_and_errors_read_like_a_router(self):
        keys("sh ver", "Enter")
        wait_screen(lambda s: "Hyperscan" in s, "show version")
        keys("frobnicate", "Enter")
        wait_screen(lambda s: "% unknown command 'frobnicate'" in s, "the refusal")

    def test_long_output_is_paged_and_q_stops_it(self):
        keys("help", "Enter")
        s = wait_screen(lambda s: "--More--" in s, "--More--")
        self.assertLessEqual(len(s.splitlines()), 24)
        keys("q")
        wait_screen(lambda s: last_line(s).strip() == self.prompt.strip(), "the prompt after q")

    def test_monitor_redraws_and_q_returns_to_the_prompt(self):
        keys("monitor", "Enter")
        s = wait_screen(lambda s: "(q to quit)" in s and "messages/s" in s, "the live view")
        for line in s.splitlines():
            self.assertLessEqual(len(line), 80)
        # It is redrawn: the receive rate line comes back with a new frame count
        # after traffic (a ping through the lab's WAN side).
        labtool.lab_exec("wan", ["ping", "-c", "3", "-i", "0.2", "203.0.113.1"], timeout=30)
        wait_screen(lambda s: "rx frames/s 0.0" not in s and "(q to quit)" in s,
                    "a non-zero receive rate", timeout=10)
        keys("q")
        wait_screen(lambda s: last_line(s).strip() == self.prompt.strip(), "the prompt after q")

    def test_exit_ends_the_console(self):
        keys("exit", "Enter")
        deadline = time.time() + 10
        while time.time() < deadline:
            if tmux("has-session", "-t", SESSION, check=False).returncode != 0:
                return
            time.sleep(0.1)
        self.fail("the console did not end:\n" + screen())


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
