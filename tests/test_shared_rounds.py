"""Tabs that need the same push share one computation of it (ui/push.SharedRounds)."""

import asyncio
import threading
import time

import pytest
from helpers import run_coroutine

from nanogpt_dash.ui import push as push_module
from nanogpt_dash.ui.push import Push, SharedRounds


class Counting:
    """A push function that takes a while, counts its calls and keeps a ring in its scratch, as the Live page does."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, store, view, cursor, scratch) -> Push:
        with self.lock:
            self.calls += 1
            call = self.calls
        time.sleep(0.05)
        if self.fail_first and call == 1:
            raise RuntimeError("a bug in the page's push")
        seq = (cursor or {}).get("seq", 0) + 1
        scratch["recent"] = [*scratch.get("recent", []), seq][-3:]
        return Push(props={"chart": {"figure": {"view": view["runs"]}}}, cursor={"seq": seq, "charts": {"loss": [seq]}},
                    feed={"points": {"seq": seq}})


def test_tabs_in_the_same_place_share_one_computation_and_each_gets_its_own_copy():
    rounds, fn = SharedRounds(), Counting()
    scratches = [{"recent": [1]} for _ in range(10)]

    async def ten_tabs():
        return await asyncio.gather(*(rounds.compute(fn, None, {"runs": ["a"]}, {"seq": 1}, s, changes=7) for s in scratches))

    pushes = run_coroutine(ten_tabs())
    assert fn.calls == 1
    assert all(p.props == pushes[0].props and p.cursor == {"seq": 2, "charts": {"loss": [2]}} for p in pushes)
    assert all(p.feed == {"points": {"seq": 2}} for p in pushes)
    assert all(s == {"recent": [1, 2]} for s in scratches)
    pushes[0].cursor["charts"]["loss"].append(99)  # one tab's cursor is not another's
    assert pushes[1].cursor["charts"]["loss"] == [2]
    scratches[0]["recent"].append(99)
    assert scratches[1]["recent"] == [1, 2]


@pytest.mark.parametrize("differs", ["view", "cursor", "scratch", "changes"])
def test_tabs_that_differ_in_anything_a_push_reads_compute_their_own(differs):
    rounds, fn = SharedRounds(), Counting()

    def ask(other: bool):
        return rounds.compute(fn, None, {"runs": ["b" if other and differs == "view" else "a"]},
                              {"seq": 2 if other and differs == "cursor" else 1},
                              {"recent": [5] if other and differs == "scratch" else [1]},
                              changes=8 if other and differs == "changes" else 7)

    async def two_tabs():
        return await asyncio.gather(ask(False), ask(True))

    run_coroutine(two_tabs())
    assert fn.calls == 2


def test_a_result_serves_only_for_a_moment(monkeypatch):
    monkeypatch.setattr(push_module, "SHARED_FOR_S", 0.1)
    rounds, fn = SharedRounds(), Counting()

    async def three_rounds():
        await rounds.compute(fn, None, {"runs": ["a"]}, None, {}, changes=1)
        await rounds.compute(fn, None, {"runs": ["a"]}, None, {}, changes=1)
        assert fn.calls == 1
        await asyncio.sleep(0.3)
        await rounds.compute(fn, None, {"runs": ["a"]}, None, {}, changes=1)

    run_coroutine(three_rounds())
    assert fn.calls == 2


def test_when_the_computation_fails_the_waiting_tabs_compute_for_themselves():
    rounds, fn = SharedRounds(), Counting(fail_first=True)

    async def three_tabs():
        return await asyncio.gather(*(rounds.compute(fn, None, {"runs": ["a"]}, None, {}, changes=1) for _ in range(3)),
                                    return_exceptions=True)

    results = run_coroutine(three_tabs())
    assert isinstance(results[0], RuntimeError)
    assert all(isinstance(r, Push) and r.cursor == {"seq": 1, "charts": {"loss": [1]}} for r in results[1:])
    assert fn.calls == 3


def test_a_tab_alone_computes_its_pushes_without_the_sharing_and_two_tabs_share(runs_dir):
    # keying a shared round pickles the tab's view, cursor and scratch, and a shared result is copied:
    # work for nothing while one tab is open (a researcher watching their run)
    from nanogpt_dash.live import LiveStore
    from nanogpt_dash.ui.push import Channel, ClientView, run_pusher

    store = LiveStore(runs_dir)
    channel = Channel(store)
    shared = []
    real_compute = channel.rounds.compute

    async def counted(*args, **kwargs):
        shared.append(True)
        return await real_compute(*args, **kwargs)

    channel.rounds.compute = counted
    fn = Counting()

    async def one_round(other_tab: bool) -> list:
        sent = []
        if other_tab:
            channel.open("other", ClientView(), None)
        await run_pusher(channel, "tab", ClientView(view={"runs": ["a"]}), None, lambda view: fn,
                         lambda component, props: sent.append(component), store, lambda: bool(sent))
        return sent

    assert run_coroutine(one_round(False))[0] == "chart" and fn.calls == 1 and shared == []
    assert run_coroutine(one_round(True))[0] == "chart" and fn.calls == 2 and shared == [True]
