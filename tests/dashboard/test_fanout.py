"""The web process's fan-out (dashboard/fanout.py): coalescing keeps the latest value of everything."""

from __future__ import annotations

import asyncio
import json

from dashboard.fanout import Hub, merge_update


def update(version: int, epoch: str = "e1", **metrics: str) -> dict:
    payload = {
        "campaign": "gala",
        "version": version,
        "epoch": epoch,
        "status": "live",
        "metrics": {slug: {"label": slug, "total": total, "groups": []} for slug, total in metrics.items()},
    }
    if "raised" in metrics:
        payload["goal"] = {"metric": "raised", "current": metrics["raised"]}
    return payload


def totals(state: dict) -> dict:
    return {slug: (m["total"], m["version"]) for slug, m in state["metrics"].items()}


def test_merged_updates_keep_each_metrics_newest_value_and_version():
    state = merge_update(None, update(5, raised="10.00", gifts="1"))
    state = merge_update(state, update(7, donors="2"))
    state = merge_update(state, update(6, raised="15.00"))  # late, out of order: still newer for raised
    assert totals(state) == {"raised": ("15.00", 6), "gifts": ("1", 5), "donors": ("2", 7)}
    assert state["version"] == 7 and state["goal"]["current"] == "15.00"
    state = merge_update(state, update(4, raised="1.00"))  # older than what we hold: ignored
    assert totals(state)["raised"] == ("15.00", 6) and state["goal"]["current"] == "15.00"


def test_a_new_epoch_or_a_recalculation_replaces_the_merged_state():
    state = merge_update(None, update(9, raised="10.00", gifts="1"))
    state = merge_update(state, update(1, epoch="e2", donors="1"))
    assert totals(state) == {"donors": ("1", 1)} and state["epoch"] == "e2"
    state = merge_update(state, {"status": "recalculating", "epoch": "e3", "version": 0, "metrics": {}})
    assert state["status"] == "recalculating" and state["metrics"] == {}


def test_a_burst_reaches_a_stream_as_one_event_with_every_latest_value():
    async def main():
        hub = Hub()
        stream = hub.subscribe(["campaign-gala"])
        for version in range(1, 51):  # 50 batches published back to back
            metric = "raised" if version % 2 else "donors"
            hub.publish("campaign-gala", "update", json.dumps(update(version, **{metric: str(version)})))
        hub.publish("campaign-gala", "ticker", json.dumps({"rev": 3}))
        frames = await stream.next_frames(timeout=2)
        assert [kind for kind, _ in frames] == ["update", "ticker"]
        data = json.loads(frames[0][1].decode().split("data: ", 1)[1])
        assert totals(data) == {"raised": ("49", 49), "donors": ("50", 50)}
        channel = hub.channels["campaign-gala"]
        assert (channel.published, channel.flushes) == (51, 1)

    asyncio.run(main())


def test_a_slow_stream_holds_one_frame_per_kind_and_the_newest_one_wins():
    async def main():
        hub = Hub(flush_hz=1000)
        slow = hub.subscribe(["campaign-gala"])
        hub.publish("campaign-gala", "update", json.dumps(update(1, raised="1")))
        await asyncio.sleep(0.05)  # flushed; the slow stream has not written it
        hub.publish("campaign-gala", "update", json.dumps(update(2, donors="1")))
        await asyncio.sleep(0.05)
        assert len(slow.pending) == 1
        frames = await slow.next_frames(timeout=1)
        data = json.loads(frames[0][1].decode().split("data: ", 1)[1])
        assert totals(data) == {"raised": ("1", 1), "donors": ("1", 2)}  # the missed value is in it
        assert await slow.next_frames(timeout=0.05) is None

    asyncio.run(main())


def test_streams_get_only_their_channels():
    async def main():
        hub = Hub()
        public = hub.subscribe(["campaign-gala"])
        ticker = hub.subscribe(["campaign-gala", "campaign-gala.gifts"])
        hub.publish("campaign-gala.gifts", "ticker", json.dumps({"entries": ["Ada"]}))
        hub.publish("campaign-gala", "config", "{}")
        assert [k for k, _ in await ticker.next_frames(timeout=1)] == ["ticker", "config"]
        assert [k for k, _ in await public.next_frames(timeout=1)] == ["config"]

    asyncio.run(main())
