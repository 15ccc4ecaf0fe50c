# SPDX-License-Identifier: MIT
"""qmp.py - a minimal QMP (QEMU Machine Protocol) client for the QEMU tests.

QMP is JSON over a UNIX socket: a greeting from QEMU, the client's
"qmp_capabilities", then commands ({"execute": ..., "arguments": ...}) each
answered by {"return": ...} or {"error": ...}, with asynchronous
{"event": ...} messages interleaved. Every wait here is bounded, so that a
stuck QEMU fails the test instead of hanging it.

Use:
    with QMP.connect("qmp.sock", timeout=10) as q:
        q.cmd("query-status")                  # -> {"running": True, ...}
        q.cmd("object-add", **{"qom-type": "memory-backend-memfd",
                                "id": "m1", "size": 128 << 20, "share": True})
        q.cmd("device_add", driver="pc-dimm", id="d1", memdev="m1")
        q.cmd("device_del", id="d1")
        q.wait_event("DEVICE_DELETED", timeout=30,
                     match=lambda e: e["data"].get("device") == "d1")
        q.cmd("quit")
"""

import json
import socket
import time


class QMPError(Exception):
    """A command answered {"error": ...}, or the protocol broke."""

    def __init__(self, msg, error=None):
        super().__init__(msg)
        self.error = error or {}


class QMPTimeout(QMPError):
    """No answer (or no such event) within the time allowed."""


class QMP:
    def __init__(self, sock, timeout):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.events = []  # events received and not yet taken by wait_event
        self.next_id = 0

    @classmethod
    def connect(cls, path, timeout=10.0):
        """Connect to QEMU's QMP server socket (retrying until it exists:
        QEMU creates it shortly after it starts), read the greeting and
        leave capabilities negotiation mode."""
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() >= deadline:
                    raise QMPTimeout(f"QMP socket {path}: no server "
                                     f"after {timeout} s")
                time.sleep(0.05)
        q = cls(s, timeout)
        greeting = q._recv(deadline)
        if "QMP" not in greeting:
            q.close()
            raise QMPError(f"not a QMP greeting: {greeting!r}")
        q.greeting = greeting["QMP"]
        q.cmd("qmp_capabilities")
        return q

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv(self, deadline):
        """One JSON message, waiting at most until deadline."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPTimeout("QMP: no message in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise QMPTimeout("QMP: no message in time") from None
            if not chunk:
                raise QMPError("QMP: connection closed by QEMU")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError as e:
            raise QMPError(f"QMP: bad JSON {line!r}: {e}") from None

    def cmd(self, name, timeout=None, **arguments):
        """Run one command; return its "return" value or raise QMPError
        (with .error = QEMU's {"class", "desc"}). Events that arrive
        meanwhile are kept for wait_event()."""
        self.next_id += 1
        req = {"execute": name, "id": self.next_id}
        if arguments:
            req["arguments"] = arguments
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self._recv(deadline)
            if "event" in msg:
                self.events.append(msg)
                continue
            if msg.get("id") != self.next_id:
                continue
            if "error" in msg:
                err = msg["error"]
                raise QMPError(f"{name}: {err.get('class')}: "
                               f"{err.get('desc')}", err)
            return msg.get("return")

    def wait_event(self, name, timeout=None, match=None):
        """Return the first event called name (and accepted by match, a
        function of the event dict), received already or within timeout."""
        for i, ev in enumerate(self.events):
            if ev["event"] == name and (match is None or match(ev)):
                return self.events.pop(i)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self._recv(deadline)
            if "event" not in msg:
                continue
            if msg["event"] == name and (match is None or match(msg)):
                return msg
            self.events.append(msg)

    def quit(self):
        """Ask QEMU to exit; the connection closing is the expected
        answer when QEMU is faster than its reply."""
        try:
            self.cmd("quit")
        except QMPError:
            pass
        self.close()
