"""`tapegrad demo --live` and `tapegrad train --live` end to end (issue 23): the command, run
as a user runs it, prints its page's address; headless Chromium watches the run learn and
presses stop; the run folder is written as usual, and the server is gone after."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import urllib.request
from urllib.parse import urlsplit

import pytest

from tapegrad.cli import main

pytestmark = pytest.mark.usefixtures("chromium")

TIMEOUT = 120


def start(args: list[str], cwd) -> tuple[subprocess.Popen, str]:
    """The command running, and the live page's address it printed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([sys.executable, "-m", "tapegrad", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    for line in proc.stdout:
        if line.startswith("live page: "):
            return proc, line.split()[2]
    proc.kill()
    raise AssertionError(f"no address printed: {proc.stderr.read()}")


def watch_and_stop(driver, url: str) -> int:
    """Open the page, wait until the run has taken steps, press stop; the step it showed."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, TIMEOUT, poll_frequency=0.05)
    box = driver.find_element("css selector", ".tg-live")
    wait.until(lambda d: int(box.get_attribute("data-step") or 0) >= 3, "no steps shown")
    driver.find_element("css selector", '[data-act="stop"]').click()
    wait.until(lambda d: box.get_attribute("data-ended") == "1", "the run never ended")
    assert box.get_attribute("data-state") == "stopped"
    return int(box.get_attribute("data-step"))


def finished(proc: subprocess.Popen, url: str) -> str:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    port = urlsplit(url).port
    with pytest.raises(OSError):  # the server stopped with the run: nothing listens there
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    return out


def test_demo_live_stop_writes_the_run_folder(browser, tmp_path):
    out = tmp_path / "run"
    proc, url = start(["demo", "--live", "--live-pace", "0.05", "--no-progress", "--out",
                       str(out)], tmp_path)  # fmt: skip
    assert urlsplit(url).hostname == "127.0.0.1" and "token=" in url
    shown = watch_and_stop(browser, url)
    printed = finished(proc, url)
    assert "stopped by the learner" in printed
    files = set(os.listdir(out))
    assert {"report.html", "history.json", "run.json", "model.json", "loss.png"} <= files
    history = json.loads((out / "history.json").read_text())
    assert history["stopped"].startswith("stopped by the learner before optimizer step")
    assert shown <= len(history["loss"]) < 100  # stopped at (or just after) the step shown


def write_table(path) -> None:
    """A table with a text feature: colour decides the class, size is noise."""
    import numpy as np

    rs = np.random.RandomState(0)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["colour", "size", "label"])
        for i in range(120):
            colour = ("red", "green", "blue")[i % 3]
            w.writerow([colour, f"{rs.randn():.3f}", "warm" if colour == "red" else "cold"])


def test_train_live_on_a_table_with_text_features(browser, tmp_path):
    table = tmp_path / "colours.csv"
    write_table(table)
    out = tmp_path / "run"
    args = ["train", "--data", str(table), "--label", "label", "--live", "--live-pace", "0.05"]
    proc, url = start([*args, "--no-progress", "--out", str(out)], tmp_path)
    browser.get(url)
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, TIMEOUT, poll_frequency=0.05)
    wait.until(lambda d: d.find_elements("css selector", "[data-cm]"), "no confusion matrix")
    cells = browser.find_elements("css selector", "[data-cm]")
    assert len(cells) == 4  # two classes
    wait.until(lambda d: sum(int(c.text or 0) for c in cells) > 0, "the matrix stayed empty")
    watch_and_stop(browser, url)
    finished(proc, url)
    run = json.loads((out / "run.json").read_text())
    assert run["outcome"]["status"] == "done"
    assert json.loads((out / "history.json").read_text())["stopped"].startswith("stopped by")


def test_live_options_are_offered_and_checked(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "--live" in text and "--live-port" in text and "--live-pace" in text
    with pytest.raises(SystemExit) as err:
        main(["train", "--live-port", "70000"])
    assert err.value.code == 2
    assert "expected a port number in [0, 65535], got '70000'" in capsys.readouterr().err


def test_ctrl_c_stops_the_run_and_its_server(tmp_path):
    import signal

    proc, url = start(["demo", "--live", "--live-pace", "0.05", "--no-progress", "--out",
                       str(tmp_path / "run")], tmp_path)  # fmt: skip
    with urllib.request.urlopen(url.replace("/?", "/events?"), timeout=TIMEOUT) as stream:
        for line in stream:  # the run is training: a frame has come
            if line.startswith(b"event: frame"):
                break
        proc.send_signal(signal.SIGINT)
        rest = stream.read().decode()  # the stream ends with the server
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130
    assert "event: end" in rest
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", urlsplit(url).port), timeout=5).close()
