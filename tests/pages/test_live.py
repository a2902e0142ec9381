"""The live page's server without a browser (issue 23): the token on every request, the
loopback address only, nothing but the run's data, commands, and no thread or port left."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from tapegrad.data import moons
from tapegrad.live import HOST, LiveControl, LiveServer
from tapegrad.nn import MLP
from tapegrad.optim import SGD
from tapegrad.train import fit


def get(url: str, data: bytes | None = None):
    return urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30)


def state(server) -> dict:
    return json.load(get(f"http://{HOST}:{server.port}/state?token={server.token}"))


def wait_for_frame(server, ok, timeout: float = 60.0) -> dict:
    """The first frame the server holds for which `ok(frame)`, polled (no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = state(server)["frame"]
        if frame is not None and ok(frame):
            return frame
        time.sleep(0.05)
    raise AssertionError(f"no such frame within {timeout} s")


@pytest.fixture
def baseline():
    before = set(threading.enumerate())
    yield
    assert set(threading.enumerate()) <= before, "the live server left a thread behind"


def train_in_thread(control, steps=40):
    X, y = moons(40, noise=0.1, seed=2)
    model = MLP(2, [6, 1], seed=1)
    t = threading.Thread(target=fit, args=(model, X, y),
                         kwargs={"optimizer": SGD(model, lr=0.2), "steps": steps,
                                 "progress": False, "control": control})  # fmt: skip
    t.start()
    return t


@pytest.mark.parametrize("path", ["/", "/events", "/state", "/explain", "/control", "/x"])
@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_a_request_without_the_token_is_refused(baseline, path, token):
    with LiveServer(LiveControl()) as server:
        url = f"http://{HOST}:{server.port}{path}"
        if token is not None:
            url += f"?token={token}"
        for data in (None, b'{"action": "stop"}'):
            with pytest.raises(urllib.error.HTTPError) as err:
                get(url, data)
            assert err.value.code == 403
        assert not server.control.stopping  # the refused stop did nothing


def test_the_server_listens_on_the_loopback_address_only(baseline):
    with LiveServer(LiveControl()) as server:
        assert server.httpd.server_address[0] == "127.0.0.1"
        assert server.url.startswith(f"http://127.0.0.1:{server.port}/?token=")
        assert len(server.token) >= 32
        with LiveServer(LiveControl()) as other:  # a fresh random token for every server
            assert other.token != server.token


def test_nothing_but_the_runs_data_is_served(baseline):
    with LiveServer(LiveControl()) as server:
        for path in ("/etc/passwd", "/../pyproject.toml", "/live.js", "/static/live.css"):
            with pytest.raises(urllib.error.HTTPError) as err:
                get(f"http://{HOST}:{server.port}{path}?token={server.token}")
            assert err.value.code == 404


def test_commands_reach_the_control_and_bad_ones_are_refused(baseline):
    control = LiveControl()
    with LiveServer(control) as server:
        url = f"http://{HOST}:{server.port}/control?token={server.token}"
        get(url, b'{"action": "pause"}')
        assert control.paused
        get(url, b'{"action": "lr", "lr": 0.05}')
        assert control.pending_lr == 0.05
        for bad in (b'{"action": "lr", "lr": -1}', b'{"action": "fly"}', b"[1]", b"{"):
            with pytest.raises(urllib.error.HTTPError) as err:
                get(url, bad)
            assert err.value.code == 400
        assert control.pending_lr == 0.05


def test_the_server_stops_with_the_run_and_leaves_no_thread_or_port(baseline):
    control = LiveControl(pace=0.01)
    server = LiveServer(control)
    port = server.port
    stream = get(f"http://{HOST}:{port}/events?token={server.token}")  # an open page
    t = train_in_thread(control, steps=30)
    t.join(60)
    assert not t.is_alive()
    server.close()
    lines = stream.read().decode().splitlines()  # the stream ends with the server
    assert "event: end" in lines
    with pytest.raises(OSError):
        socket.create_connection((HOST, port), timeout=5).close()


def frames(stream):
    """The frames a stream of Server-Sent Events carries, as they come."""
    for raw in stream:
        line = raw.decode()
        if line.startswith("data: ") and '"curves"' in line:
            yield json.loads(line[6:])


def test_nothing_is_drawn_while_no_page_watches(baseline):
    control = LiveControl(pace=0.005)
    with LiveServer(control) as server:
        t = train_in_thread(control, steps=60)
        t.join(60)
        assert control.frame is None and control.setup is None
        assert state(server) == {"frame": None, "setup": None}


def test_a_reconnecting_page_gets_where_the_run_is(baseline):
    control = LiveControl(pace=0.02)
    with LiveServer(control) as server:
        events = f"http://{HOST}:{server.port}/events?token={server.token}"
        t = train_in_thread(control, steps=500)
        try:
            stream = get(events)
            get(f"http://{HOST}:{server.port}/control?token={server.token}", b'{"action":"pause"}')
            at = next(f for f in frames(stream) if f["state"] == "paused")["step"]
            stream.close()
            for _ in range(2):  # connect again (twice): the first frame is where the run is
                with get(events) as stream:
                    frame = next(frames(stream))
                assert frame["step"] == at and frame["state"] == "paused"
            assert state(server)["frame"]["step"] == at
        finally:
            control.command("stop")
            t.join(60)
