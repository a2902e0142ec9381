"""Walks that borrow `.grad`: those whose graphs share a node take turns, the others run at once.

A walk (`backward()`, `tapegrad.grad`) sets every `.grad` of its graph aside while it runs and
adds or puts them back at the end, so two walks over one node at the same time (threads
training shared parameters) would each set aside the other's half-done gradients. One global
lock kept them apart, but also made a slow rule in one thread stall `backward()` on unrelated
graphs in all the others. Here a walk enters a registry of the walks in progress under a short
mutex instead; only when another thread's walk is in progress does it compare their nodes, and
it waits only for a walk that shares one. A walk started inside another one in the same thread
(`backward()` from a closure) goes ahead, as the re-entrant lock let it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

_mutex = threading.Lock()
_ended = threading.Condition(_mutex)  # notified when a walk ends while another waits
_active: list[borrowing] = []  # the walks in progress
_waiting: dict[int, list[borrowing]] = {}  # thread id -> the walks it waits for


class borrowing:  # noqa: N801  (used as a context manager, as a lock would be)
    """`with borrowing(order):` holds the `.grad` of every node in `order` for one walk: it
    waits while another thread's walk shares a node with it, and lets the next one in after."""

    __slots__ = ("order", "thread", "_ids")

    def __init__(self, order: Sequence) -> None:
        self.order = order
        self.thread = threading.get_ident()
        self._ids: set[int] | None = None

    def ids(self) -> set[int]:
        """Its nodes, by id (made on first need: a walk alone never needs them)."""
        if self._ids is None:
            self._ids = set(map(id, self.order))
        return self._ids

    def __enter__(self) -> borrowing:
        _mutex.acquire()  # not `with`: about a third cheaper, and every backward() pays this
        try:
            if _active:  # only then can a walk share a node with this one
                self._wait()
            _active.append(self)
        finally:
            _mutex.release()
        return self

    def __exit__(self, *exc: object) -> None:
        _mutex.acquire()
        try:
            _active.remove(self)
            if _waiting:
                _ended.notify_all()
        finally:
            _mutex.release()

    def _wait(self) -> None:
        """Wait (holding the mutex, which waiting lets go) until no other thread's walk in
        progress shares a node with this one."""
        while True:
            me = self.thread
            blockers = [w for w in _active if w.thread != me and not w.ids().isdisjoint(self.ids())]
            if not blockers:
                return
            _refuse_deadlock(me, blockers)
            _waiting[me] = blockers
            try:
                _ended.wait()
            finally:  # Ctrl-C while waiting: nothing was borrowed, nothing is held
                del _waiting[me]


def _refuse_deadlock(me: int, blockers: list[borrowing]) -> None:
    """Raise rather than wait for ever: a walk nested in another (from a closure) waits for a
    thread that is itself waiting, directly or through others, for this thread's outer walk."""
    seen: set[int] = set()
    todo = [w.thread for w in blockers]
    while todo:
        thread = todo.pop()
        if thread == me:
            raise RuntimeError(
                "backward() inside a running backward() (from a _backward closure) would wait for "
                "another thread's walk that waits for this one: graphs walked from two threads "
                "at once share nodes both ways; walk them one after the other"
            )
        if thread not in seen:
            seen.add(thread)
            todo += [w.thread for w in _waiting.get(thread, ()) if w in _active]
