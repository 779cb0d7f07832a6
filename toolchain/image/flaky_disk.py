"""A disk that loses what was not flushed: an NBD server (Unix socket) over a raw image file, for
the power-cut test (power_cut.py). QEMU's virtio-blk disk is backed by it through QEMU's NBD
client: `drive()` gives the -drive value.

Why: QEMU's usual file-backed disk (cache=writeback) puts every write the guest made into the
host's page cache, which outlives a SIGKILL of QEMU: the "power cut" would keep writes the guest
never flushed, and a broken fsync would go unnoticed. cache=none/directsync only move the
question to the host's disk. Here the disk's volatile write cache is ours and dies with the cut:
- A WRITE is held in memory (reads see it) until the guest sends FLUSH, or the write carries FUA;
  then everything held is applied to the file, in order (the guest's fdatasync() ends in a FLUSH,
  which the virtio-blk device turns into NBD_CMD_FLUSH because it advertises a write cache).
- When the connection ends without NBD_CMD_DISC (QEMU was killed), the held writes are the
  cut's victims: dropped by default, or (`harsh`) a seeded random subset of them applied in
  random order, as a disk's volatile cache may have written some back, reordered.
A clean stop (DISC, after QEMU's own flush) loses nothing.

One client at a time (one QEMU per boot); the server outlives boots. The protocol is NBD's
fixed newstyle handshake (NBD_OPT_GO or NBD_OPT_EXPORT_NAME, no structured replies) and the
simple replies of READ, WRITE, FLUSH and DISC; anything else is answered EINVAL.
"""
import os
import random
import socket
import struct
import threading

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_REPLY = 0x67446698
FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES = 1, 2
OPT_EXPORT_NAME, OPT_ABORT, OPT_INFO, OPT_GO = 1, 2, 6, 7
REP_ACK, REP_INFO, REP_ERR_UNSUP = 1, 3, 0x80000001
INFO_EXPORT = 0
TX_HAS_FLAGS, TX_SEND_FLUSH, TX_SEND_FUA = 1, 4, 8
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
CMD_FLAG_FUA = 1
EINVAL, EIO = 22, 5
SECTOR = 512


class FlakyDisk:
    def __init__(self, image, sock_path, seed=0, harsh=False):
        self.image = image
        self.sock_path = sock_path
        self.size = os.path.getsize(image)
        self.rng = random.Random(seed)
        self.harsh = harsh
        self.fd = os.open(image, os.O_RDWR)
        self.held = []        # (offset, bytes) writes not yet flushed, in arrival order
        self.overlay = {}     # sector -> bytes: what reads see of the held writes
        self.lock = threading.Lock()
        self.idle = threading.Event()  # no client connected (set after a cut has been applied)
        self.idle.set()
        self.stats = {"writes": 0, "flushes": 0, "cuts": 0, "dropped_writes": 0, "dropped_bytes": 0,
                      "applied_on_cut": 0}
        self.last_cut = None  # (held writes, dropped, applied) of the last cut
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(sock_path)
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def drive(self):
        """QEMU's -drive value (without id) for this disk."""
        return f"file=nbd+unix:///?socket={self.sock_path},format=raw"

    def close(self):
        self.listener.close()
        os.close(self.fd)

    def wait_idle(self, deadline_s=10):
        """Waits until the client has gone and its cut (if any) is applied to the file."""
        if not self.idle.wait(deadline_s):
            raise TimeoutError("the NBD client did not go away")

    # ---- the write cache ----
    def _write(self, off, data):
        self.held.append((off, data))
        for i in range(0, len(data), SECTOR):
            self.overlay[(off + i) // SECTOR] = data[i:i + SECTOR]
        self.stats["writes"] += 1

    def _flush(self):
        for off, data in self.held:
            os.pwrite(self.fd, data, off)
        self.held.clear()
        self.overlay.clear()
        self.stats["flushes"] += 1

    def _read(self, off, length):
        data = bytearray(os.pread(self.fd, length, off))
        if self.overlay:
            first, last = off // SECTOR, (off + length - 1) // SECTOR
            for s in range(first, last + 1):
                held = self.overlay.get(s)
                if held is not None:
                    data[s * SECTOR - off:s * SECTOR - off + SECTOR] = held
        return bytes(data)

    def _cut(self):
        held = self.held
        applied = []
        if self.harsh and held:
            applied = self.rng.sample(held, self.rng.randrange(len(held) + 1))  # random subset, random order
            for off, data in applied:
                os.pwrite(self.fd, data, off)
        self.stats["cuts"] += 1
        self.stats["dropped_writes"] += len(held) - len(applied)
        self.stats["dropped_bytes"] += sum(len(d) for _, d in held) - sum(len(d) for _, d in applied)
        self.stats["applied_on_cut"] += len(applied)
        self.last_cut = (len(held), len(held) - len(applied), len(applied))
        self.held = []
        self.overlay = {}

    # ---- the protocol ----
    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.idle.clear()
            clean = False
            try:
                clean = self._session(conn)
            except (OSError, EOFError, struct.error):
                clean = False
            finally:
                conn.close()
                with self.lock:
                    if clean:
                        self._flush()
                    else:
                        self._cut()
                self.idle.set()

    @staticmethod
    def _recv(conn, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _opt_reply(self, conn, opt, rtype, data=b""):
        conn.sendall(struct.pack(">QIII", REPLY_MAGIC, opt, rtype, len(data)) + data)

    def _handshake(self, conn):
        tx_flags = TX_HAS_FLAGS | TX_SEND_FLUSH | TX_SEND_FUA
        conn.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
        (client_flags,) = struct.unpack(">I", self._recv(conn, 4))
        while True:
            magic, opt, length = struct.unpack(">QII", self._recv(conn, 16))
            data = self._recv(conn, length) if length else b""
            if magic != IHAVEOPT:
                raise EOFError
            if opt == OPT_EXPORT_NAME:
                zeroes = b"" if client_flags & FLAG_NO_ZEROES else b"\0" * 124
                conn.sendall(struct.pack(">QH", self.size, tx_flags) + zeroes)
                return True
            if opt == OPT_ABORT:
                self._opt_reply(conn, opt, REP_ACK)
                return False
            if opt in (OPT_INFO, OPT_GO):
                self._opt_reply(conn, opt, REP_INFO, struct.pack(">HQH", INFO_EXPORT, self.size, tx_flags))
                self._opt_reply(conn, opt, REP_ACK)
                if opt == OPT_GO:
                    return True
                continue
            self._opt_reply(conn, opt, REP_ERR_UNSUP)  # structured replies, meta contexts, TLS, lists

    def _session(self, conn):
        if not self._handshake(conn):
            return True
        while True:
            magic, flags, cmd, handle, off, length = struct.unpack(">IHHQQI", self._recv(conn, 28))
            if magic != REQ_MAGIC:
                return False
            err, payload = 0, b""
            with self.lock:
                if cmd == CMD_WRITE:
                    data = self._recv(conn, length)
                    if off + length > self.size:
                        err = EINVAL
                    else:
                        if off % SECTOR or length % SECTOR:  # whole sectors only: read-modify-write
                            start = off // SECTOR * SECTOR
                            end = -(-(off + length) // SECTOR) * SECTOR
                            whole = bytearray(self._read(start, end - start))
                            whole[off - start:off - start + length] = data
                            off, data = start, bytes(whole)
                        self._write(off, data)
                        if flags & CMD_FLAG_FUA:
                            self._flush()
                elif cmd == CMD_READ:
                    if off + length > self.size:
                        err = EINVAL
                    else:
                        payload = self._read(off, length)
                elif cmd == CMD_FLUSH:
                    self._flush()
                elif cmd == CMD_DISC:
                    return True
                else:
                    err = EINVAL
            conn.sendall(struct.pack(">IIQ", SIMPLE_REPLY, err, handle) + (payload if not err else b""))
