"""Reading a shard's next batch while this one is committed: the GetRecords round trip (tens of
milliseconds to AWS) overlaps the decoding, the Redis commit and the ticker of the batch before.

Only a shard that is behind (its last batch was full) reads ahead, and only one batch: so at most
one call per shard is in flight, as without read-ahead, and a shard at its tip keeps answering
within one poll interval (a read made ahead there would be stale by the time it is used). A read
ahead is used only if the shard is still where it was asked for (its iterator); after a refusal,
a lost lease or a failover the shard is re-opened and the read is dropped. Its errors surface when
it is used, exactly as the read's own would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

Records = tuple[list[dict[str, Any]], str | None]


@dataclass
class ReadAhead:
    iterator: str  # the shard iterator it read from
    future: Future

    def result(self) -> Records:
        return self.future.result()


class ThreadedReads:
    """Reads ahead on threads of their own, at most `threads` at once (boto3 clients are
    thread-safe; each read waits on a socket). Daemon threads: a process told to stop exits without
    waiting for a read nobody will use (a read that hangs lasts up to the client's timeouts)."""

    def __init__(self, threads: int):
        self.slots = threading.BoundedSemaphore(threads)

    def start(self, read: Callable[[str, int], Records], iterator: str, limit: int) -> ReadAhead | None:
        if not self.slots.acquire(blocking=False):
            return None  # every thread busy: this shard reads when it is due, as without read-ahead
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(read(iterator, limit))
            except BaseException as exc:  # noqa: BLE001 - handed over with the result
                future.set_exception(exc)
            finally:
                self.slots.release()

        threading.Thread(target=run, name="read-ahead", daemon=True).start()
        return ReadAhead(iterator, future)

    def close(self) -> None:
        pass


class ImmediateReads:
    """Reads ahead at once, on the caller's thread: a stepped test stays deterministic and still
    goes through every path of a read made ahead (used, dropped, failed)."""

    def start(self, read: Callable[[str, int], Records], iterator: str, limit: int) -> ReadAhead:
        future: Future = Future()
        try:
            future.set_result(read(iterator, limit))
        except Exception as exc:  # noqa: BLE001 - handed over with the result, as a thread would
            future.set_exception(exc)
        return ReadAhead(iterator, future)

    def close(self) -> None:
        pass


class NoReads:
    """Read-ahead switched off (INGEST_READ_AHEAD_THREADS=0)."""

    def start(self, read: Callable[[str, int], Records], iterator: str, limit: int) -> None:
        return None

    def close(self) -> None:
        pass


def reads_from_settings(threads: int) -> ThreadedReads | NoReads:
    return ThreadedReads(threads) if threads > 0 else NoReads()
