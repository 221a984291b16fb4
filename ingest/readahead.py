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

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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
    """Reads ahead on a few threads (boto3 clients are thread-safe; each read waits on a socket)."""

    def __init__(self, threads: int):
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="read-ahead")

    def start(self, read: Callable[[str, int], Records], iterator: str, limit: int) -> ReadAhead:
        return ReadAhead(iterator, self.pool.submit(read, iterator, limit))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


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
