# SPDX-License-Identifier: MIT
"""vhost_proxy.py - a vhost-user message relay that withholds protocol
features (issue 14 scenario 2, the SET_MEM_TABLE form).

QEMU sends guest memory changes one region at a time (ADD_MEM_REG /
REM_MEM_REG) when the back-end offers VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS,
and a whole new table (SET_MEM_TABLE) otherwise. Neither QEMU 7.2's
vhost-user-blk-pci nor the two back-ends (gpc-vhost-blk, qemu-storage-daemon's
libvhost-user) has a switch to leave the feature out, so this relay sits on
the socket between them: it passes every message and every file descriptor
through unchanged, except that it clears the withheld bits in the back-end's
reply to GET_PROTOCOL_FEATURES. The front-end then never sets them, and the
back-end sees the same negotiation as with a front-end that lacks them.

The relay counts the messages it passes by request code (`counts`), which is
the evidence of which form was used.

Wire format (docs/interop/vhost-user.rst): a 12-byte header (request u32,
flags u32, size u32, little-endian) then size bytes of payload; descriptors
ride as SCM_RIGHTS on the message. Replies have flag bit 2 set.
"""

import os
import socket
import struct
import threading

GET_PROTOCOL_FEATURES = 15
SET_MEM_TABLE = 5
ADD_MEM_REG = 37
REM_MEM_REG = 38
F_CONFIGURE_MEM_SLOTS = 15  # protocol feature bit
HDR = struct.Struct("<III")
FLAG_REPLY = 1 << 2
MAX_PAYLOAD = 1 << 16  # far above any message (a full table is 8 * 32 + 8)
MAX_FDS = 32


class Relay:
    """Listen on path; relay the first connection to the back-end socket
    backend_path, clearing `withhold` (a protocol feature mask) in replies
    to GET_PROTOCOL_FEATURES. Threads are daemons: the harness ending ends
    them."""

    def __init__(self, path, backend_path,
                 withhold=1 << F_CONFIGURE_MEM_SLOTS):
        self.path = path
        self.backend_path = backend_path
        self.withhold = withhold
        self.counts = {}
        self.error = None
        self.lock = threading.Lock()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(path)
        self.lsock.listen(1)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        try:
            fe, _ = self.lsock.accept()
            be = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            be.connect(self.backend_path)
        except OSError as e:
            self.error = f"relay: {e}"
            return
        threading.Thread(target=self._pump, args=(fe, be, False),
                         daemon=True).start()
        self._pump(be, fe, True)

    @staticmethod
    def _recv_exact(sock, n, fds):
        """n bytes (collecting any descriptors on the way); b"" on EOF at a
        message boundary."""
        buf = b""
        while len(buf) < n:
            data, got, _, _ = socket.recv_fds(sock, n - len(buf), MAX_FDS)
            fds.extend(got)
            if not data:
                if buf:
                    raise OSError("connection closed inside a message")
                return b""
            buf += data
        return buf

    def _pump(self, src, dst, from_backend):
        try:
            while True:
                fds = []
                hdr = self._recv_exact(src, HDR.size, fds)
                if not hdr:
                    break
                req, flags, size = HDR.unpack(hdr)
                if size > MAX_PAYLOAD:
                    raise OSError(f"message {req}: size {size}")
                payload = self._recv_exact(src, size, fds) if size else b""
                if from_backend and req == GET_PROTOCOL_FEATURES and \
                        flags & FLAG_REPLY and size == 8:
                    feat, = struct.unpack("<Q", payload)
                    payload = struct.pack("<Q", feat & ~self.withhold)
                if not from_backend:
                    with self.lock:
                        self.counts[req] = self.counts.get(req, 0) + 1
                socket.send_fds(dst, [hdr + payload], fds)
                for fd in fds:
                    os.close(fd)
        except OSError as e:
            if self.error is None:
                self.error = f"relay ({'back' if from_backend else 'front'}"\
                             f"-end side): {e}"
        finally:
            # One side gone: end the other (as the peer would see it).
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.lsock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
