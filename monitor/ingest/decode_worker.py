"""Decode batches in a child process, so the loop's thread windows one batch while the next is decoded.

Decoding JSON is the largest single cost per event, and it needs no state but the decoders: a
child process does it on the second core while the loop's thread windows the batch decoded
before. Results come back in submission order, so the daemon feeds batches exactly as it would
have decoding them itself, and it keeps every batch's raw values until its result is fed: if the
child dies or hangs, the batches it held are decoded in the loop's thread and nothing is lost or
reordered (the daemon then goes on decoding in its own thread, with an error in the log).

Requests are written to the pipe by a thread of this process, so the loop never waits for the
child to read (msgspec holds the child's GIL for a whole batch); the child reads them on a thread
of its own, so a large batch sent while it writes a result never leaves both ends waiting on a
full pipe.

Examples
--------
>>> from monitor.ingest.decode import Decoder
>>> decoding = Decoding({"predictions": Decoder("predictions", {}, {"m": ("x",)})}, process=False)
>>> decoding.submit("predictions", [b'{"model": "m", "timestamp": 1, "prediction": 1, "features": {"x": 2}}'], "b1")
>>> tag, decoded = decoding.next()
>>> tag, decoded.records.features["x"]
('b1', [2.0])
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Generic, Mapping, Sequence, TypeVar

from monitor.ingest import malloc
from monitor.ingest.decode import Decoded, Decoder

log = logging.getLogger(__name__)

T = TypeVar("T")

RESULT_TIMEOUT_S = 120.0
"""A child that answers nothing for this long is taken for hung: it is killed and decoding moves in-process."""


@dataclass
class _Request(Generic[T]):
    seq: int
    kind: str
    values: Sequence[bytes | None]
    decoders: Mapping[str, Decoder]
    tag: T


class Decoding(Generic[T]):
    """Batches in, decoded batches out, in the same order; decoded in a child process or in this one.

    Each batch carries a caller's tag (the daemon's polled batch), returned with its result: the
    batches waiting here are the caller's batches in flight, kept in one place.

    Parameters
    ----------
    decoders
        Topic kind -> its decoder (see :meth:`configure` to replace them).
    process
        Decode in a child process (True) or in :meth:`next`, in the caller's thread (False).
    """

    def __init__(self, decoders: Mapping[str, Decoder], *, process: bool = True,
                 result_timeout_s: float = RESULT_TIMEOUT_S) -> None:
        self.decoders = dict(decoders)
        self.result_timeout_s = result_timeout_s
        self._waiting: deque[_Request[T]] = deque()
        self._seq = 0
        self._child: Any = None
        self._conn: Connection | None = None
        self._outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        if process:
            self._start()

    @property
    def in_process(self) -> bool:
        """Whether batches are decoded in the caller's thread (no child, or the child failed)."""
        return self._conn is None

    def __len__(self) -> int:
        """Batches submitted and not taken back yet."""
        return len(self._waiting)

    def configure(self, decoders: Mapping[str, Decoder]) -> None:
        """Decode what is submitted from now on with these decoders (batches already submitted keep theirs)."""
        self.decoders = dict(decoders)
        if self._conn is not None:
            self._send(("config", self.decoders))

    def submit(self, kind: str, values: Sequence[bytes | None], tag: T) -> None:
        """Queue one batch of raw messages of a topic kind; :meth:`next` returns it decoded, in order, with ``tag``."""
        self._seq += 1
        request = _Request(self._seq, kind, values, self.decoders, tag)
        self._waiting.append(request)
        if self._conn is not None:
            self._send(("decode", request.seq, kind, list(values)))

    def next(self) -> tuple[T, Decoded]:
        """The oldest submitted batch's tag and the batch decoded (blocks until the child has it)."""
        request = self._waiting[0]
        decoded = self._receive(request.seq) if self._conn is not None else None
        if decoded is None:
            decoded = request.decoders[request.kind].decode(request.values)
        self._waiting.popleft()
        return request.tag, decoded

    def discard(self) -> None:
        """Forget every submitted batch (the caller will read them again from the broker)."""
        if self._conn is not None:
            while self._waiting:  # read their results so the next ones line up
                if self._receive(self._waiting[0].seq) is None:
                    break
                self._waiting.popleft()
        self._waiting.clear()

    def close(self) -> None:
        """Stop the child (it also exits by itself when this process's end of the pipe closes)."""
        conn, child = self._conn, self._child
        self._conn = self._child = None
        if conn is not None:
            self._outbox.put(("stop",))
            self._outbox.put(None)
        if child is not None:
            child.join(5)
            if child.is_alive():
                child.kill()
                child.join(5)
        if conn is not None:
            conn.close()

    # --- the child --------------------------------------------------------------------------

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        child = context.Process(target=_serve, args=(theirs,), name="driftd-decode", daemon=True)
        child.start()
        theirs.close()
        self._conn, self._child = ours, child
        threading.Thread(target=_write, args=(ours, self._outbox), name="driftd-decode-writer", daemon=True).start()
        self._send(("config", self.decoders))
        log.info("decoding in a child process pid=%s", child.pid)

    def _send(self, message: tuple[Any, ...]) -> None:
        """Queue a request for the writer thread (a failed write shows up as a missing answer)."""
        self._outbox.put(message)

    def _receive(self, seq: int) -> Decoded | None:
        """The child's result for ``seq``; None when it must be decoded here instead."""
        conn = self._conn
        if conn is None:
            return None
        try:
            if not conn.poll(self.result_timeout_s):
                self._fail(f"no answer in {self.result_timeout_s:.0f} s")
                return None
            answer = conn.recv()
        except (EOFError, OSError) as exc:
            self._fail(f"it exited ({exc or 'end of pipe'})")
            return None
        status, got = answer[0], answer[1]
        if got != seq:
            self._fail(f"answered batch {got} where {seq} was due")
            return None
        if status == "error":
            log.error("the decoding process failed on a batch; decoding it here instead:\n%s", answer[2])
            return None
        decoded: Decoded = answer[2]
        return decoded

    def _fail(self, why: str) -> None:
        """Give up on the child: every batch it held is decoded here, as is everything after."""
        child = self._child
        log.error("the decoding process (pid %s) failed: %s; decoding in the loop's thread from now on",
                  getattr(child, "pid", None), why)
        conn, self._conn, self._child = self._conn, None, None
        self._outbox.put(None)
        if child is not None and child.is_alive():
            child.kill()
            child.join(5)
        if conn is not None:
            conn.close()


def _write(conn: Connection, outbox: "queue.SimpleQueue[tuple[Any, ...] | None]") -> None:
    """The parent's writer thread: send queued requests in order until None or a broken pipe."""
    while True:
        message = outbox.get()
        if message is None:
            return
        try:
            conn.send(message)
        except (OSError, ValueError):  # the child is gone: the reader side notices and decodes here
            return
        except Exception:  # noqa: BLE001 - e.g. a request that cannot be pickled: the answer never comes
            log.exception("writing to the decoding process failed")
            return


def _serve(conn: Connection) -> None:
    """The child: decode requests in order until ``stop`` or until the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent decides
    malloc.fix_mmap_threshold()  # decoded batches freed go back to the OS (monitor.ingest.malloc)
    requests: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = ("stop",)
            requests.put(message)
            if message[0] == "stop":
                return

    threading.Thread(target=read, name="driftd-decode-reader", daemon=True).start()
    decoders: Mapping[str, Decoder] = {}
    while True:
        message = requests.get()
        if message[0] == "stop":
            return
        if message[0] == "config":
            decoders = message[1]
            continue
        _, seq, kind, values = message
        try:
            answer: tuple[Any, ...] = ("ok", seq, decoders[kind].decode(values))
        except Exception:  # noqa: BLE001 - the parent decodes the batch itself and logs this
            answer = ("error", seq, traceback.format_exc())
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return
