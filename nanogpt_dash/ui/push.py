"""Server push: every tab gets what it lacks over Dash's WebSocket, when there is something new.

One LiveStore tailer reads new rows once and tells the Channel which runs changed; the Channel
wakes the subscription of each tab that shows one of them. Each tab runs one persistent
callback (ui/shell.py) that waits on its subscription, asks the current page's push function
what this tab lacks, and sends it with set_props. The tab's cursor (what it has) lives in the
subscription and goes to the browser with every feed (below); the browser gives it back in the
tab's ids.FEED store when its connection comes back (assets/push.js), so a new server, or the same
one after a reconnect, resumes exactly where the tab is: nothing lost, nothing sent twice.

A subscription sends nothing while its tab is hidden or nothing changed, and never more often
than the tab's rate. A heartbeat every HEARTBEAT_S tells an idle tab that the server is there.

Every round ends with one update of ids.FEED, whatever else it sent: {"at": the server's clock,
"cursor": the tab's cursor, "page": what the page's own script reads (the Live page's new points)}.
The browser takes the feed from Dash's WebSocket worker before it reaches Dash's store, where each
set_props costs three dispatches, each running the selector of every mounted component.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import pickle
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from ..live import LiveStore
from . import ids

log = logging.getLogger(__name__)
HEARTBEAT_S = 1.5
REFRESH_EVERY = 4  # heartbeats between rounds that nothing woke
SHARED_FOR_S = 0.2  # how long one tab's push may serve another tab in the same place (time-based numbers age)
MAX_RATE_HZ = 10
HIDDEN = "hidden"
POLLS_PER_UPDATE = 4  # while a tab could take new rows at once, the store polls this often per update of it
DUE_WITHIN_S = 0.01  # a tab's round due this soon runs with the poll that wakes it


@dataclass
class Push:
    """What one push sends: props by component id, what the page's script reads from the feed, and
    the tab's cursor afterwards."""

    props: dict[str, dict] = field(default_factory=dict)
    cursor: dict | None = None
    again_in: float | None = None  # seconds after which to push again though nothing woke the tab
    feed: dict | None = None  # ids.FEED's "page" on this push (JSON); None: nothing for the page's script


class PushFunction(Protocol):
    """`scratch` is the subscription's own memory on the server (not mirrored to the browser)."""

    def __call__(self, store: LiveStore, view: dict, cursor: dict | None, scratch: dict) -> Push: ...


@dataclass
class ClientView:
    """What the browser last told the server about one tab."""

    view: dict | None = None
    rate_hz: float = 5.0
    visible: bool = True


class Subscription:
    """One tab's link to the Channel: its view, its cursor and the event that wakes its pusher."""

    def __init__(self, tab: str, loop: asyncio.AbstractEventLoop, client: ClientView, cursor: dict | None) -> None:
        self.tab = tab
        self.client = client
        self.cursor = cursor
        self._loop = loop
        self._event = asyncio.Event()
        self.changed_runs: set[str] = set()
        self.next_round = 0.0  # time.monotonic() from which the rate lets this tab's next round run

    def wake(self) -> None:
        """Thread-safe: the pusher runs its next round as soon as the rate allows."""
        self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> bool:
        """True when woken, False when `timeout` passed first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        self._event.clear()
        return True

    def interval(self) -> float:
        rate = min(MAX_RATE_HZ, max(0.5, self.client.rate_hz))
        return 1.0 / rate

    def watches(self, run_ids: set[str]) -> bool:
        """Whether a change to `run_ids` matters to this tab (its runs, or any run for the run list)."""
        return bool(run_ids)


class SharedRounds:
    """One computation for the tabs that need the same push.

    Ten people watching one run are woken by the same new rows, with the same view, cursor and
    scratch: the first to ask computes the push (in a worker thread), the others wait for it and
    get a copy. The key holds everything a push function reads besides the store, and the
    Channel's count of store changes; a result serves for SHARED_FOR_S at most, since some numbers
    (elapsed time, a stalled status) change with time alone. Runs on the event loop only.
    """

    def __init__(self) -> None:
        self._rounds: dict[bytes, tuple[float, asyncio.Future]] = {}

    async def compute(self, push: PushFunction, store: LiveStore, view: dict, cursor: dict | None, scratch: dict,
                      changes: int) -> Push:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._rounds = {k: r for k, r in self._rounds.items() if now - r[0] < SHARED_FOR_S}
        try:
            key = hashlib.blake2b(pickle.dumps((id(push), changes, view, cursor, scratch),
                                               protocol=pickle.HIGHEST_PROTOCOL), digest_size=16).digest()
        except Exception:  # something unpicklable in a page's scratch: compute alone
            return await asyncio.to_thread(push, store, view, cursor, scratch)
        shared = self._rounds.get(key)
        if shared is None:
            future = loop.create_future()
            self._rounds[key] = (now, future)
            try:
                result = await asyncio.to_thread(push, store, view, cursor, scratch)
            except BaseException:
                self._rounds.pop(key, None)
                future.cancel()  # the others compute for themselves
                raise
            future.set_result((result, copy.deepcopy(scratch)))
            return shared_copy(result)
        try:
            result, scratch_after = await asyncio.shield(shared[1])
        except asyncio.CancelledError:
            if shared[1].cancelled():
                return await asyncio.to_thread(push, store, view, cursor, scratch)
            raise
        scratch.clear()
        scratch.update(copy.deepcopy(scratch_after))
        return shared_copy(result)


def shared_copy(push: Push) -> Push:
    """A push that another tab may also send: its props are only sent, its cursor becomes the tab's own."""
    return Push(props=push.props, cursor=copy.deepcopy(push.cursor), again_in=push.again_in, feed=push.feed)


class Channel:
    """The subscriptions of every open tab, woken by the LiveStore when runs change."""

    def __init__(self, store: LiveStore) -> None:
        self._subscriptions: dict[str, Subscription] = {}
        self._pending: dict[str, ClientView] = {}
        self._lock = threading.Lock()
        self.changes = 0  # store polls that changed a run, so far
        self.rounds = SharedRounds()
        self._store = store
        store.listen(self._changed)
        store.watched_by(self.poll_in)

    def open(self, tab: str, client: ClientView, cursor: dict | None) -> Subscription:
        """A new subscription for `tab` (replacing an older one of the same tab, e.g. before a reconnect)."""
        with self._lock:
            client = self._pending.pop(tab, None) or client
            sub = Subscription(tab, asyncio.get_running_loop(), client, cursor)
            self._subscriptions[tab] = sub
        if client.visible:
            self._store.wake()
        return sub

    def close(self, sub: Subscription) -> None:
        with self._lock:
            if self._subscriptions.get(sub.tab) is sub:
                del self._subscriptions[sub.tab]

    def update(self, tab: str, client: ClientView) -> None:
        """The browser changed its view, rate or visibility: the tab's pusher acts on it at once."""
        with self._lock:
            sub = self._subscriptions.get(tab)
            if sub is None:  # the tab's pusher has not started yet: it picks this up when it does
                self._pending[tab] = client
                while len(self._pending) > 1000:
                    self._pending.pop(next(iter(self._pending)))
                return
            shown = client.visible and not sub.client.visible
            sub.client = client
        if shown:
            self._store.wake()
        sub.wake()

    def tabs(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def poll_in(self, now: float) -> float | None:
        """Seconds from `now` (time.monotonic()) until new rows are next of use to a tab shown, None
        while none is (the LiveStore polls for it).

        A tab that may take new rows at once gets polls POLLS_PER_UPDATE times per update of it, so
        that they wait a fraction of an update for a poll. A tab still within its rate's pause would
        only hold them until its next round: one poll when that round is due brings what came in
        meanwhile, as soon. While a run logs steadily, that is one poll per update instead of four."""
        with self._lock:
            subs = [sub for sub in self._subscriptions.values() if sub.client.visible]
        if not subs:
            return None
        return min(sub.next_round - now if sub.next_round > now else sub.interval() / POLLS_PER_UPDATE
                   for sub in subs)

    def _changed(self, run_ids: set[str]) -> None:
        now = time.monotonic()
        with self._lock:
            self.changes += 1
            subs = list(self._subscriptions.values())
        for sub in subs:
            if sub.watches(run_ids):
                sub.changed_runs |= run_ids
                if sub.client.visible and sub.next_round <= now + DUE_WITHIN_S:
                    # its round runs now, with these rows: the next one is due an update later
                    # (the pusher sets the exact time when the round has sent its updates)
                    sub.next_round = max(now, sub.next_round) + sub.interval()
                sub.wake()


async def run_pusher(channel: Channel, tab: str, client: ClientView, cursor: dict | None,
                     push_for: Callable[[dict | None], PushFunction], send: Callable[[str, dict], None],
                     store: LiveStore, is_closed: Callable[[], bool]) -> None:
    """The loop of one tab: wait, compute what it lacks (in a worker thread), send it, repeat.

    `push_for(view)` picks the current page's push function; `send(id, props)` is set_props.
    Returns when the tab's connection closes.
    """
    sub = channel.open(tab, client, cursor)
    loop = asyncio.get_running_loop()
    last_sent = 0.0
    rounds = 0
    push: Push | None = None
    scratch: dict = {}
    failed = False
    try:
        woken = True  # the first round sends what the tab lacks right away
        while not is_closed():
            feed = None
            if woken and sub.client.visible:
                wait = last_sent + sub.interval() - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                sub.changed_runs = set()
                view = sub.client.view
                try:
                    if channel.tabs() > 1:  # another tab may need the same push
                        push = await channel.rounds.compute(push_for(view), store, view or {}, sub.cursor, scratch,
                                                            channel.changes)
                    else:  # nobody to share with: no key to pickle, no copies of the tab's state
                        push = await asyncio.to_thread(push_for(view), store, view or {}, sub.cursor, scratch)
                except Exception:  # a bug, not bad input (pages check what the browser sends): say it once
                    if not failed:
                        log.exception("nanogpt_dash: cannot update tab %s; it gets heartbeats only until the view changes", tab)
                    failed = True
                    push = Push(cursor=sub.cursor)
                else:
                    failed = False
                if is_closed():
                    break
                for component_id, props in push.props.items():
                    send(component_id, props)
                if push.cursor is not None:
                    sub.cursor = push.cursor
                feed = push.feed
                last_sent = loop.time()
                sub.next_round = time.monotonic() + sub.interval()
            if sub.client.visible:
                # after the round's props: the cursor the browser keeps is never ahead of what it has
                send(ids.FEED, {"data": {"at": round(time.time(), 3), "cursor": sub.cursor, "page": feed}})
            # something held back (key numbers refresh at most once a second) is sent when due; and
            # every few heartbeats a round runs anyway, for what changes with time alone (elapsed, stalled)
            again = push.again_in if woken and push is not None and push.again_in else None
            rounds = 0 if woken else rounds + 1
            woken = await sub.wait(min(HEARTBEAT_S, again) if again else HEARTBEAT_S) or again is not None \
                or rounds >= REFRESH_EVERY
    finally:
        channel.close(sub)
