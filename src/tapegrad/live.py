"""Watch a run learn, live (issue 23): a page served from a real local HTTP server that updates
while `fit` trains, with pause, single step, learning rate and stop in the learner's hands.

How the pieces fit, layer by layer: `tapegrad.train.fit` knows nothing of pages. It takes a
`control` (`train.Control`), asked before and told after every optimizer step. `LiveControl` is
that control: it keeps the learner's commands (pause, step, lr, stop) and, at most every
`every` seconds, copies the raw numbers of the run (step, weights, per-layer norms, history).
A painter thread turns a copy into what the page draws, on a replica of the model (so nothing
the training thread touches is read half-updated): the decision boundary (`plots.DecisionGrid`),
the confusion matrix or predicted-vs-true, one sample's graph collapsed by layer (`explain`'s
picture, its data and grad cells refreshed). `LiveServer` serves the page and a Server-Sent
Events stream of those frames with the standard library (`http.server.ThreadingHTTPServer`),
on 127.0.0.1 only, every request carrying a random token (403 without it), nothing but the
run's own data; it stops with the run and joins every thread it started.

`tapegrad.fit` is `fit` below: `train.fit` plus `live=True`, defined up here so the
application layer never imports a page or a server (an import-linter contract keeps it so).
"""

from __future__ import annotations

import copy
import json
import math
import re
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from . import losses as L
from .collapse import group_nodes
from .engine import Value
from .graph import topological_order
from .markup import html_text, json_for_script
from .pages.page import asset
from .pages.report import (
    confusion_counts,
    layer_parameters,
    point_text,
    predicted_labels,
    true_labels,
)
from .plots import MAX_POINTS, DecisionGrid, sample_rows
from .tape import compile as compile_tape
from .textgraph import number_format
from .train import Control, History, RunInfo, StopTraining, controlled
from .train import fit as _fit

HOST = "127.0.0.1"
"""The only address the server listens on: the loopback, never the network."""

EVERY = 0.25
"""Seconds between two frames at most: updates are throttled, never one per step."""

SHARE = 0.1
"""The most of a run's time the painter spends drawing while the run trains (issue 23's budget:
a live view costs at most a tenth of the training). A paused or ended run is drawn at once."""

WATCH_SECONDS = 10.0
"""With an automatic pace (`pace=None`), a run takes at least this long, so a fast one (the demo
trains in a tenth of a second) can be watched; a slower run is not held back at all."""

SETUP_GUESS = 0.25
"""Seconds the first frame is expected to take (the replica, its tapes, the sample's picture)."""

MAX_CURVE = 400
"""The most points of each curve a frame carries (a long run's are thinned evenly)."""


# --- the control: the learner's commands, and the run's raw numbers ---------------------------


class LiveControl(Control):
    """`fit`'s control for a live page. Commands (`pause`, `resume`, `step`, `set_lr`, `stop`)
    may come from any thread; they act at the next optimizer step. `pace` makes every step
    take at least that many seconds (to watch a fast run, or to test without racing it); None:
    the run as a whole takes at least WATCH_SECONDS, spread evenly over its entries."""

    def __init__(self, every: float = EVERY, pace: float | None = 0.0, title: str = "live") -> None:
        self.every, self.title = float(every), title
        self.pace = None if pace is None else float(pace)
        self._began = 0.0
        self.cond = threading.Condition()
        self.paused = False
        self.allowance = 0  # steps allowed while paused
        self.stopping = False
        self.pending_lr: float | None = None
        self.state = "waiting"  # waiting, running, paused, done, stopped, failed
        self.step = 0  # optimizer steps taken
        self.version = 0  # frames published
        self.frame: dict | None = None  # the latest frame, as the page reads it
        self.setup: dict | None = None  # what does not change: layer names, points, picture
        self.finished = False
        self._raw: dict | None = None  # the latest raw numbers for the painter
        self._raw_version = 0
        self.watchers = 0  # pages streaming now: nothing is drawn while there are none
        self._last: tuple | None = None  # (history, trainer) of the last step
        self._due = 0.0
        self._painter: _Painter | None = None
        self._step_started = 0.0

    # commands (any thread)

    def command(self, action: str, lr: object = None) -> None:
        """Apply one of the page's commands: pause, resume, step, lr (with `lr`), stop."""
        with self.cond:
            if action == "pause":
                self.paused = True
            elif action == "resume":
                self.paused, self.allowance = False, 0
            elif action == "step":
                self.paused, self.allowance = True, self.allowance + 1
            elif action == "stop":
                self.stopping = True
            elif action == "lr":
                self.pending_lr = _rate(lr)
            else:
                raise ValueError(f"unknown command {action!r}: pause, resume, step, lr or stop")
            self.cond.notify_all()

    # the training thread (train.Control)

    def begin(self, run: RunInfo) -> None:
        """Start the painter on a replica of the model."""
        self._painter = _Painter(self, run)
        self._last = (History(unit=run.unit), None)  # a page paused before step 1 shows step 0
        with self.cond:
            self.state, self.step, self.finished = "running", 0, False
            self._due = time.perf_counter() + self.every  # a first frame once it is worth it
            self._began = time.perf_counter()
        self._painter.start()

    def before_step(self, step: int) -> float | None:
        """Wait for the pace and while paused; raise StopTraining on stop; a new rate."""
        wait = self._wait()
        if wait > 0:
            with self.cond:
                self.cond.wait_for(lambda: self.stopping, timeout=wait)
        with self.cond:
            if self.paused and not self.allowance and not self.stopping:
                self.state = "paused"
                self._publish(force=True)  # the page shows exactly where the run holds
                self.cond.wait_for(lambda: self.stopping or not self.paused or self.allowance)
            if self.stopping:
                raise StopTraining(f"stopped by the learner before optimizer step {step + 1}")
            if self.paused:
                self.allowance -= 1
            self.state = "paused" if self.paused else "running"
            lr, self.pending_lr = self.pending_lr, None
        self._step_started = time.perf_counter()
        return lr

    def after_step(self, step: int, loss: float, history: History, trainer) -> None:
        """Note the step; publish the run's numbers when a frame is due (or paused)."""
        self.step = step
        self._last = (history, trainer)
        if self.paused or time.perf_counter() >= self._due:
            with self.cond:
                self._publish(force=self.paused)

    def end(self, history: History) -> None:
        """Publish the last frame; the painter draws it on its own time (`close` waits for
        it), so the run returns at once."""
        with self.cond:
            if self._last is None:
                self._last = (history, None)
            self.state = "stopped" if self.stopping else "done"
            if history.stopped is None and len(history) < self._entries():
                self.state = "failed"
            self._publish(force=True, final=True)

    def close(self) -> None:
        """Wait for the painter to draw the last frame (if a page watches) and end it."""
        if self._painter is not None:
            self._painter.finish()
        with self.cond:
            self.finished = True
            self.cond.notify_all()

    def _wait(self) -> float:
        """Seconds to hold the next step for the pace: a fixed one after the last step, or
        the automatic one, which keeps the run's entries WATCH_SECONDS / entries apart."""
        if self.pace is None:
            done = len(self._last[0]) if self._last is not None else 0
            due = self._began + WATCH_SECONDS * done / max(self._entries(), 1)
            return due - time.perf_counter()
        return self._step_started + self.pace - time.perf_counter() if self.pace else 0.0

    def _entries(self) -> int:
        return self._painter.info.total if self._painter is not None else 0

    def _publish(self, force: bool = False, final: bool = False) -> None:
        """Copy the raw numbers of the run now (the caller holds `cond`)."""
        if self._last is None or self._painter is None:
            return
        history, trainer = self._last
        if final:  # fit has synced the model: the painter copies it later, off the run's time
            self._raw = {"final": True, "lazy": (history, self.state, self.step)}
        else:
            if trainer is not None:
                trainer.sync()  # a compiled run keeps its weights in an array until told
            self._raw = self._painter.raw(history, self, final)
        self._raw_version += 1
        self._due = time.perf_counter() + self.every
        self.cond.notify_all()

    def take_raw(self, drawn: int, closing: threading.Event) -> tuple[dict, int] | None:
        """(the painter) The raw numbers newer than version `drawn`, once a page is watching
        (no page, no drawing: a run nobody watches pays for a copy now and then, no more);
        None once `closing` is set and there is nothing (or nobody) left to draw for."""
        with self.cond:
            while True:
                fresh = self._raw is not None and self._raw_version != drawn
                if fresh and self.watchers > 0:
                    return self._raw, self._raw_version  # type: ignore[return-value]
                if closing.is_set():
                    return None
                self.cond.wait(0.2)

    def watching(self, change: int) -> None:
        """(a stream) A page started (+1) or stopped (-1) watching."""
        with self.cond:
            self.watchers += change
            self.cond.notify_all()

    def show(self, frame: dict) -> None:
        """(the painter) Make `frame` the one every page gets next."""
        with self.cond:
            self.version += 1
            self.frame = {**frame, "v": self.version}
            self.cond.notify_all()


def _rate(lr: object) -> float:
    try:
        value = float(lr)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(lr, bool) or not 0 < value < math.inf:
        raise ValueError(f"the learning rate must be a number > 0, got {lr!r}")
    return value


# --- the painter: from raw numbers to what the page draws --------------------------------------


def _curve(values: list, keep: np.ndarray) -> list:
    return [_num(values[i]) if i < len(values) else None for i in keep.tolist()]


def _num(v) -> float | None:
    if v is None or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(f"{v:.6g}")


class _Painter(threading.Thread):
    """Draws each raw copy of the run on a replica of the model, in its own thread."""

    def __init__(self, control: LiveControl, run: RunInfo) -> None:
        super().__init__(name="tapegrad-live-painter", daemon=True)
        self.control, self.info = control, run
        self.spec = L.lookup(run.loss)
        self._layers: list | None = None  # found when first needed, not on the run's time
        self.closing = threading.Event()
        self.replica: Any = None
        self.view: _View | None = None
        self.optimizer = run.optimizer

    # on the training thread: a cheap copy

    @property
    def layers(self) -> list:
        """(name, parameters) of each layer of the model."""
        if self._layers is None:
            self._layers = layer_parameters(self.info.model)
        return self._layers

    @property
    def params(self) -> list:
        """Every parameter, layer after layer (the model's own order)."""
        return [p for _, ps in self.layers for p in ps]

    def raw(self, history: History, control: LiveControl, final: bool) -> dict:
        """The run's numbers now, copied (weights, grads, history) for the painter."""
        w = np.fromiter((p.data for p in self.params), np.float64, len(self.params))
        g = np.fromiter((float(p.grad) for p in self.params), np.float64, len(self.params))
        current = getattr(self.optimizer, "current_lr", None)
        lr = current() if callable(current) else getattr(self.optimizer, "lr", None)
        return {
            "step": control.step,
            "entry": len(history),
            "state": control.state,
            "lr": _num(lr),
            "history": {
                k: list(getattr(history, k))
                for k in ("loss", "val_loss", "accuracy", "val_accuracy", "lr_changes")
            },
            "stopped": history.stopped,
            "w": w,
            "g": g,
            "final": final,
        }

    # on the painter thread

    def run(self) -> None:
        """Draw the newest raw copy while a page watches, spending at most SHARE of the run's
        time drawing (a held or ended run's frame at once), until `finish()`."""
        drawn, spent, start, guess = 0, 0.0, time.perf_counter(), SETUP_GUESS
        while True:
            got = self.control.take_raw(drawn, self.closing)
            if got is None:
                return
            raw, version = got
            # held: at once; ended: once fit has returned (`close`), never on the run's time
            urgent = raw.get("state") == "paused" or self.closing.is_set()
            later = (spent + guess) / SHARE - (time.perf_counter() - start)
            if raw["final"] and not urgent:
                later = 1.0
            if not urgent and later > 0:
                with self.control.cond:  # not yet: the run's time comes first
                    self.control.cond.wait(max(later, 0.02))  # or a command, or the end
                continue
            began = time.perf_counter()
            frame = self.frame(raw)
            guess = time.perf_counter() - began
            spent += guess
            drawn = version
            self.control.show(frame)
            if raw["final"]:
                return

    def finish(self) -> None:
        """Wait until the final frame is drawn (if a page watches) and the thread has ended."""
        self.closing.set()
        with self.control.cond:
            self.control.cond.notify_all()
        self.join()

    def frame(self, raw: dict) -> dict:
        """What the page draws for one raw copy of the run."""
        if "lazy" in raw:  # the run's end: the model holds its last weights, nothing trains
            history, state, step = raw["lazy"]
            raw = {**self.raw(history, self.control, True), "state": state, "step": step}
        if self.view is None:
            self.view = _View(self.info, self.layers)
            self.control.setup = self.view.setup(self.control.title)
        w, g = raw["w"], raw["g"]
        b = np.cumsum([0, *(len(ps) for _, ps in self.layers)])
        norms = [
            [_num(float(np.linalg.norm(w[b[i] : b[i + 1]]))),
             _num(float(np.linalg.norm(g[b[i] : b[i + 1]])))]
            for i in range(len(self.layers))
        ]  # fmt: skip
        h = raw["history"]
        n = len(h["loss"])
        keep = np.unique(np.linspace(0, n - 1, min(n, MAX_CURVE)).round().astype(int))
        return {
            "step": raw["step"],
            "entry": raw["entry"],
            "entries": self.info.total,
            "unit": self.info.unit,
            "state": raw["state"],
            "lr": raw["lr"],
            "stopped": raw["stopped"],
            "lr_changes": h["lr_changes"],
            "curves": {
                "x": (keep + 1).tolist(),
                **{k: _curve(h[k], keep) for k in ("loss", "val_loss", "accuracy", "val_accuracy")},
            },
            "norms": norms,
            **self.view.draw(w),
        }


@dataclass
class _View:
    """What the page shows of the model, drawn with given weights on a replica of it."""

    run: RunInfo
    layers: list
    replica: Any = None
    grid: DecisionGrid | None = None
    rows: Any = None  # the rows the outcome is measured on (an array)
    truth: list = field(default_factory=list)
    sample: list[float] = field(default_factory=list)
    picture: str = ""
    cells: list = field(default_factory=list)  # (element, kind) per node of the sample's graph
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        run = self.run
        self.spec = L.lookup(run.loss)
        self.replica = copy.deepcopy(run.model)  # read by this thread only
        self.params = self.replica.parameters()
        rows, targets = run.validation if run.validation is not None else (run.rows, run.targets)
        rows = np.asarray(rows, dtype=np.float64)
        truth = true_labels(self.spec, targets)
        picked = sample_rows(np.asarray(truth), MAX_POINTS)
        idx = np.arange(len(rows)) if picked is None else picked
        self.rows, self.truth = rows[idx], [truth[i] for i in idx.tolist()]
        train = np.asarray(run.rows, dtype=np.float64)
        self.classes = None if self.spec.kind == "regression" else self._n_classes(targets)
        if train.shape[1] == 2 and self.classes is not None:
            self.grid = DecisionGrid(self.replica, train, resolution=40)
        self.tape = compile_tape(self.replica, [0.0] * train.shape[1])
        self.sample = train[0].tolist()
        self.number = number_format(4, None)

    def _n_classes(self, targets) -> int:
        nouts = getattr(self.run.model, "nouts", None)
        k = int(nouts[-1]) if nouts else 1
        return 2 if self.spec.kind == "binary" or k == 1 else k

    def setup(self, title: str) -> dict:
        """What the page needs once: names, the points, the sample's picture."""
        self.picture, self.cells = self._picture()
        grid = None
        if self.grid is not None:
            xs, ys = self.grid.xx[0], self.grid.yy[:, 0]
            grid = {"n": len(xs), "x": [xs[0], xs[-1]], "y": [ys[0], ys[-1]]}
        train = np.asarray(self.run.rows, dtype=np.float64)
        points = None
        if grid is not None:
            _, targets = self.run.rows, self.run.targets
            truth = true_labels(self.spec, targets)
            picked = sample_rows(np.asarray(truth), MAX_POINTS)
            idx = range(len(train)) if picked is None else picked.tolist()
            points = [[_num(train[i, 0]), _num(train[i, 1]), truth[i]] for i in idx]
        return {
            "title": title,
            "unit": self.run.unit,
            "entries": self.run.total,
            "layers": [[name, len(ps)] for name, ps in self.layers],
            "grid": grid,
            "points": points,
            "classes": self.classes,
            "truth": [_num(t) for t in self.truth] if self.classes is None else None,
            "measured": "validation" if self.run.validation is not None else "training",
            "graph": self.picture,
            "sample": _sample_text(self.sample),
        }

    def _root(self) -> Value:
        xs = [Value(v, label=f"x{i}") for i, v in enumerate(self.sample)]
        out = self.replica(xs)
        outs = [out] if isinstance(out, Value) else list(out)
        root = outs[0] if len(outs) == 1 else outs[int(np.argmax([o.data for o in outs]))]
        root.label = "output"
        return root

    def _picture(self) -> tuple[str, list]:
        from .pages.explain import ExplainError, explain

        root = self._root()
        order = topological_order(root)
        try:
            page = explain(root, collapse="layer" if len(order) > 80 else None, title="sample")
        except ExplainError:
            return "", []
        html = page._repr_html_()
        uid = re.search(r'id="(tgx-[0-9a-f]+)"', html)
        of, groups = group_nodes(order, "layer") if len(order) > 80 else ({}, [])
        with_params = {g.name for g in groups if g.params}
        cells: list = []
        for node in order:
            el = f"{uid.group(1) if uid else ''}-{page.element(node)}"
            group = of.get(node)
            if group is None:
                cells.append((el, "cell"))
            elif group.name in with_params and not node._prev:
                with_params.discard(group.name)  # one norm cell per group
                cells.append((el, "norm"))
            else:
                cells.append(None)
        self.collapsed = bool(of)
        return html, cells

    def draw(self, w: np.ndarray) -> dict:
        """The boundary, the outcome and the sample's graph with weights `w`."""
        with self.lock:
            return self._draw(w)

    def _draw(self, w: np.ndarray) -> dict:
        for p, v in zip(self.params, w.tolist(), strict=True):
            p.data = v
        out: dict[str, Any] = {}
        if self.grid is not None:
            out["grid"] = "".join(str(int(c)) for c in self.grid.classes().ravel().tolist())
        predicted = predicted_labels(self.spec, self.tape(self.rows))
        if self.classes is None:
            out["pred"] = [_num(v) for v in predicted]
        else:
            out["confusion"] = confusion_counts(self.truth, predicted, self.classes)
        out["sample"] = self._sample_cells()
        return out

    def _sample_cells(self) -> dict:
        root = self._root()
        order = topological_order(root)
        for p in self.params:
            p.grad = 0.0
        root.backward()
        texts: list = []
        if self.cells and len(self.cells) == len(order):
            of, groups = group_nodes(order, "layer") if self.collapsed else ({}, [])
            norm = {g.name: g.grad_norm for g in groups}
            for node, cell in zip(order, self.cells, strict=True):
                if cell is None:
                    continue
                el, kind = cell
                if kind == "norm":
                    texts.append([el, 1, f"grad norm {format(norm[of[node].name], self.number)}"])
                else:
                    texts.append([el, 2, f"data {format(node.data, self.number)}"])
                    texts.append([el, 1, f"grad {format(float(node.grad), self.number)}"])
        return {"out": _num(root.data), "cells": texts}


def _sample_text(point: list[float]) -> str:
    """The sample's inputs, named x0, x1, ... (the live page has no column names)."""
    return point_text(point, [f"x{i}" for i in range(len(point))], most=6)


# --- the server: the page, a stream of frames, the commands -------------------------------------


class LiveServer:
    """The page's HTTP server on 127.0.0.1 (`port` 0: any free one), in its own thread, for
    one `LiveControl`. Every request must carry `token` (`?token=`), else 403. `url` is the
    page's address, token included. `close()` (or leaving a `with` block) stops it, ends
    every stream and joins every thread it started; the port is free again after."""

    def __init__(self, control: LiveControl, port: int = 0) -> None:
        self.control = control
        self.token = secrets.token_urlsafe(24)
        self.closing = threading.Event()
        self.httpd = ThreadingHTTPServer((HOST, port), _handler(self))
        self.httpd.daemon_threads = False  # server_close() joins the request threads
        self.httpd.block_on_close = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            name="tapegrad-live-server",
            kwargs={"poll_interval": 0.1},
        )
        self.thread.start()

    @property
    def url(self) -> str:
        """The page's address, with the token."""
        return f"http://{HOST}:{self.port}/?token={self.token}"

    def close(self) -> None:
        """Stop serving, end every open stream, join every thread; idempotent."""
        if self.closing.is_set():
            return
        self.control.close()  # the last frame drawn, for the pages still watching
        self.closing.set()
        with self.control.cond:
            self.control.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def page(self) -> str:
        """The live page's HTML (its script reads the token from its own address)."""
        return _PAGE.format(
            title=html_text(self.control.title),
            css=asset("live.css"),
            script=asset("live.js"),
            token=json_for_script(self.token),
        )

    def explain_page(self) -> str:
        """The chosen sample's explain step-through with the weights of the latest frame."""
        from .pages.explain import explain

        painter = self.control._painter
        view = painter.view if painter is not None else None
        if view is None:
            return "<!DOCTYPE html><p>nothing to explain yet: the run has not drawn a frame</p>"
        with view.lock:  # the replica holds the weights of the latest frame
            root = view._root()
            n = len(topological_order(root))
            step = self.control.frame["step"] if self.control.frame else 0
            title = f"sample {_sample_text(view.sample)} at step {step}"
            page = explain(root, collapse="layer" if n > 80 else None, title=title)
            # no icon to ask for: the page's one request is its own
            return page.html().replace("<head>", '<head>\n<link rel="icon" href="data:,">', 1)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,"><style>{css}</style></head>
<body><div class="tg-live" id="tg-live">
<div class="tg-head"><h2 class="tg-name">{title}</h2>
<span class="tg-state" data-state="waiting">waiting</span></div>
<div class="tg-bar">
<button type="button" data-act="pause">pause</button>
<button type="button" data-act="step" title="exactly one optimizer step">step</button>
<label>learning rate <input class="tg-lr-input" type="number" step="any" min="0"></label>
<button type="button" data-act="lr">set</button>
<button type="button" data-act="stop" title="stop, keep the weights, write the run">stop
</button>
<span class="tg-now">step <b class="tg-step">0</b> <span class="tg-entry"></span>
lr <b class="tg-lr">–</b></span></div>
<div class="tg-row">
<figure class="tg-boundary tg-hidden"><canvas width="280" height="280"></canvas>
<figcaption>decision boundary (training rows)</figcaption></figure>
<div class="tg-outcome"></div>
<table class="tg-layers"><caption>each layer: |w| and the last batch's |grad|</caption>
<thead><tr><th>layer</th><th>params</th><th>|w|</th><th>|grad|</th><th></th></tr></thead>
<tbody></tbody></table></div>
<div class="tg-charts"><svg class="tg-chart" data-chart="loss" viewBox="0 0 460 210"></svg>
<svg class="tg-chart" data-chart="accuracy" viewBox="0 0 460 210"></svg></div>
<h3>one sample through the network, collapsed by layer: data and grad at this step
<a class="tg-open" href="#" target="_blank" rel="noopener">step through it</a></h3>
<p class="tg-out"></p><div class="tg-graph" title="open this sample's step-through"></div>
</div>
<script>var TOKEN = {token};</script>
<script>{script}</script>
</body></html>
"""


def _handler(server: LiveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        live = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    """One request: the token checked first, then one of the few things the run serves."""

    live: LiveServer
    timeout = 5  # a connection that sends nothing is closed (no thread waits on it forever)
    server_version = "tapegrad-live"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the command's own output is what the terminal shows."""

    def _allowed(self) -> tuple[str, dict] | None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        given = (query.get("token") or [""])[0]
        if not secrets.compare_digest(given.encode(), self.live.token.encode()):
            self._send(HTTPStatus.FORBIDDEN, "text/plain", b"a valid token is required\n")
            return None
        return parts.path, query

    def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        """The page, the stream, the latest frame, or the sample's step-through."""
        allowed = self._allowed()
        if allowed is None:
            return
        path, _ = allowed
        control = self.live.control
        if path == "/":
            self._send(HTTPStatus.OK, "text/html", self.live.page().encode())
        elif path == "/events":
            self._stream()
        elif path == "/state":
            with control.cond:
                doc = {"frame": control.frame, "setup": control.setup}
            self._send(HTTPStatus.OK, "application/json", json.dumps(doc).encode())
        elif path == "/explain":
            self._send(HTTPStatus.OK, "text/html", self.live.explain_page().encode())
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def do_POST(self) -> None:  # noqa: N802
        """A command: {"action": "pause" | "resume" | "step" | "stop" | "lr", "lr": rate}."""
        allowed = self._allowed()
        if allowed is None:
            return
        path, _ = allowed
        if path != "/control":
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
            return
        try:
            size = min(int(self.headers.get("Content-Length") or 0), 10_000)
            doc = json.loads(self.rfile.read(size) or b"{}")
            if not isinstance(doc, dict):
                raise ValueError("a command is a JSON object")
            self.live.control.command(str(doc.get("action")), doc.get("lr"))
        except ValueError as err:
            self._send(HTTPStatus.BAD_REQUEST, "text/plain", f"{err}\n".encode())
            return
        self._send(HTTPStatus.OK, "application/json", b"{}")

    def _stream(self) -> None:
        """Server-Sent Events: the setup once it exists, then every new frame, until the run
        ends or the server closes. A reconnecting page gets the latest frame at once."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        control, live = self.live.control, self.live
        sent_setup, seen = False, 0
        control.watching(+1)
        try:
            self.wfile.write(b"retry: 1000\n\n")
            while True:
                with control.cond:
                    if not live.closing.is_set() and control.version == seen:
                        control.cond.wait(1.0)
                    frame, setup, version = control.frame, control.setup, control.version
                    done = control.finished and version == seen
                if setup is not None and not sent_setup:
                    self._event("setup", setup)
                    sent_setup = True
                if frame is not None and version != seen:
                    self._event("frame", frame)
                    seen = version
                if live.closing.is_set() or done:
                    self._event("end", {"state": frame["state"] if frame else "done"})
                    return
                if version == seen:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            return  # the page went away; a new one will get a stream of its own
        finally:
            control.watching(-1)

    def _event(self, kind: str, doc: dict) -> None:
        data = json.dumps(doc, separators=(",", ":"), allow_nan=False)
        self.wfile.write(f"event: {kind}\ndata: {data}\n\n".encode())
        self.wfile.flush()


# --- the ways in: a command's run, fit(live=True) in a notebook ----------------------------------


def can_open_browser() -> bool:
    """True when a person is likely at this terminal with a browser to open (never under CI or
    pytest, nor without a terminal)."""
    import os
    import sys

    if os.environ.get("CI") or "PYTEST_CURRENT_TEST" in os.environ:
        return False
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


class LiveRun:
    """A run trained in a background thread with its live page: `fit(..., live=True)`.
    In Jupyter it displays the page inline (an iframe on the local server); `url` is its
    address; `wait()` waits for the end and returns what the training returned (or raises
    what it raised); the server stops when the run ends."""

    def __init__(self, train: Callable[[], Any], control: LiveControl, port: int = 0) -> None:
        self.control = control
        self.server = LiveServer(control, port)
        self.url = self.server.url
        self._result: Any = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(train,), name="tapegrad-live-fit")
        self.thread.start()

    def _run(self, train: Callable[[], Any]) -> None:
        try:
            with controlled(self.control):
                self._result = train()
        except BaseException as err:  # handed to wait()
            self._error = err
        finally:
            self.server.close()

    def wait(self, timeout: float | None = None) -> Any:
        """The training's result (a History for `fit`), once it has ended."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"the run is still training after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result

    def stop(self) -> None:
        """Stop the run at the next step, keeping its weights (as the page's stop does)."""
        self.control.command("stop")

    @property
    def running(self) -> bool:
        """True while the run trains."""
        return self.thread.is_alive()

    def __repr__(self) -> str:
        state = "training" if self.running else "ended"
        return f"<tapegrad live run, {state}: {self.url}>"

    def _repr_html_(self) -> str:
        url = html_text(self.url)
        return (
            f'<iframe src="{url}" width="100%" height="760" style="border:1px solid #ddd">'
            f'</iframe><p><a href="{url}" target="_blank" rel="noopener">open the live page'
            "</a> (it lives as long as the run)</p>"
        )


def fit(*args: Any, live: bool = False, live_port: int = 0, live_pace: float | None = None,
        **kwargs: Any) -> Any:  # fmt: skip
    """`tapegrad.train.fit`, plus `live`: with `live=True` training runs in a background thread
    at once and this returns a `LiveRun` (in Jupyter its page shows inline and updates as the
    run trains, the kernel staying free); `run.wait()` returns the History. `live_port` (0:
    any free one) and `live_pace` (at least this many seconds per step; None, the default: the
    run takes at least WATCH_SECONDS, so a fast one can be watched) shape the page.

    Why here and not in `train.fit`: training (the application layer) never imports a page or
    a server; this wrapper sits in the presentation layer and hands `train.fit` a control."""
    if not live:
        return _fit(*args, **kwargs)
    control = LiveControl(pace=live_pace, title="tapegrad: watch it learn")
    return LiveRun(lambda: _fit(*args, **kwargs), control, live_port)
