"""The live view's automatic pace: a fast run is spread over at least WATCH_SECONDS so it can
be watched, and a slow one is not held back (an explicit pace still wins)."""

from __future__ import annotations

import tapegrad.live as live
from tapegrad.data import moons
from tapegrad.nn import MLP
from tapegrad.train import fit


def _run(pace, watch: float, monkeypatch) -> float:
    monkeypatch.setattr(live, "WATCH_SECONDS", watch)
    X, y = moons(30, noise=0.1, seed=1)
    control = live.LiveControl(pace=pace)
    with live.LiveServer(control):
        history = fit(MLP(2, [4, 1], seed=1), X, y, steps=20, progress=False, compile=True,
                      control=control)  # fmt: skip
    return history.seconds


def test_the_automatic_pace_spreads_a_fast_run_over_the_watch_time(monkeypatch):
    # 20 fast steps would take a few ms; spread over 1 s, the last step waits for 19/20 of it
    assert _run(None, 1.0, monkeypatch) >= 0.9


def test_a_zero_pace_runs_at_full_speed(monkeypatch):
    assert _run(0.0, 1.0, monkeypatch) < 0.9


def test_the_cli_default_is_the_automatic_pace():
    from tapegrad.cli import build_parser

    args = build_parser().parse_args(["demo", "--live"])
    assert args.live_pace is None
    args = build_parser().parse_args(["demo", "--live", "--live-pace", "0"])
    assert args.live_pace == 0.0


def test_the_demo_says_when_its_time_was_paced_for_the_live_page(tmp_path, capsys):
    from tapegrad import cli

    for pace, paced in (("0", False), ("0.001", True)):
        out = tmp_path / f"pace-{pace}"
        assert (
            cli.main(["demo", "--live", "--live-pace", pace, "--no-progress", "--out", str(out)])
            == 0
        )
        last_step = [
            line for line in capsys.readouterr().out.splitlines() if line.startswith("step 100:")
        ]
        assert len(last_step) == 1
        assert ("paced for the live page" in last_step[0]) is paced
