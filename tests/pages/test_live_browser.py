"""The live page in a real browser (issue 23): headless Chromium opens the page a run serves,
and the learner's controls act on the run: the step counter rises, pause holds it, step takes
exactly one optimizer step, a new learning rate lands in the history at its step. The runs are
slowed with the control's pace (never a sleep in the engine) and waited on by polling."""

import threading

import pytest

from tapegrad.data import moons
from tapegrad.live import LiveControl, LiveServer
from tapegrad.nn import MLP
from tapegrad.optim import SGD, linear
from tapegrad.train import fit

pytestmark = pytest.mark.usefixtures("chromium")

TIMEOUT = 60  # seconds: generous, the machine is shared


class Run:
    """A demo-like run training in a thread, its live server, and what fit returned."""

    def __init__(self, steps=5_000, pace=0.01):
        X, y = moons(60, noise=0.1, seed=3)
        self.model = MLP(2, [8, 8, 1], seed=4)
        self.control = LiveControl(pace=pace)
        self.server = LiveServer(self.control)
        self.history = None
        opt = SGD(self.model, lr=linear(0.5, 0.05, steps))

        def train():
            self.history = fit(self.model, X, y, optimizer=opt, steps=steps, l2=1e-4,
                               progress=False, compile=True, control=self.control)  # fmt: skip

        self.thread = threading.Thread(target=train)
        self.thread.start()

    def finish(self):
        self.control.command("stop")
        self.thread.join(TIMEOUT)
        self.server.close()
        assert not self.thread.is_alive()


@pytest.fixture
def run():
    before = set(threading.enumerate())
    r = Run()
    yield r
    r.finish()
    assert set(threading.enumerate()) <= before


def until(driver, test, message):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(lambda d: test(d), message)


def step_shown(driver) -> int:
    return int(driver.find_element("css selector", ".tg-live").get_attribute("data-step") or -1)


def state_shown(driver) -> str:
    return driver.find_element("css selector", ".tg-live").get_attribute("data-state") or ""


def click(driver, act: str) -> None:
    driver.find_element("css selector", f'[data-act="{act}"]').click()


def paused_at(driver) -> int:
    click(driver, "pause")
    until(driver, lambda d: state_shown(d) == "paused", "the page never showed the pause")
    return step_shown(driver)


def test_the_step_counter_rises_while_training_runs(browser, run):
    browser.get(run.server.url)
    first = until(browser, lambda d: step_shown(d) > 0 and step_shown(d), "no step shown")
    until(browser, lambda d: step_shown(d) > first, "the step counter did not rise")
    counter = int(browser.find_element("css selector", ".tg-step").text)
    assert counter >= first


def test_pause_holds_the_counter_still_for_a_second(browser, run):
    import time

    browser.get(run.server.url)
    until(browser, lambda d: step_shown(d) > 0, "no step shown")
    held = paused_at(browser)
    time.sleep(1.0)  # the behaviour asked for: a second with nothing moving
    assert step_shown(browser) == held and run.control.step == held
    assert browser.find_element("css selector", ".tg-step").text == str(held)
    click(browser, "pause")  # now "resume"
    until(browser, lambda d: step_shown(d) > held, "resume did not start the run again")


def test_step_takes_exactly_one_optimizer_step(browser, run):
    browser.get(run.server.url)
    until(browser, lambda d: step_shown(d) > 0, "no step shown")
    k = paused_at(browser)
    for n in (1, 2):
        click(browser, "step")
        until(browser, lambda d, n=n: step_shown(d) == k + n, f"step {k + n} was never shown")
    with run.control.cond:  # the run holds there: no step was taken past it
        assert not run.control.cond.wait_for(lambda: run.control.step > k + 2, timeout=0.5)
    assert step_shown(browser) == k + 2 and state_shown(browser) == "paused"


def test_a_changed_learning_rate_is_in_the_history_at_its_step(browser, run):
    browser.get(run.server.url)
    until(browser, lambda d: step_shown(d) > 0, "no step shown")
    k = paused_at(browser)
    box = browser.find_element("css selector", ".tg-lr-input")
    box.clear()
    box.send_keys("0.0123")
    click(browser, "lr")
    with run.control.cond:
        assert run.control.cond.wait_for(lambda: run.control.pending_lr is not None, TIMEOUT)
    click(browser, "step")
    until(browser, lambda d: step_shown(d) == k + 1, "the step was never shown")
    until(browser, lambda d: d.find_element("css selector", ".tg-lr").text.startswith("0.01"),
          "the page never showed the new rate")  # fmt: skip
    click(browser, "stop")
    run.thread.join(TIMEOUT)
    h = run.history
    assert h.lr_changes == [{"step": k + 1, "lr": 0.0123}]
    assert h.lr[k] == pytest.approx(0.0123, rel=1e-12)  # entry k+1: optimizer step k+1
    assert h.lr[k - 1] != pytest.approx(0.0123)
    assert h.stopped == f"stopped by the learner before optimizer step {k + 2}"
    assert len(h) == k + 1


def test_the_samples_graph_opens_its_step_through(browser, run):
    browser.get(run.server.url)
    until(browser, lambda d: step_shown(d) > 0, "no step shown")
    k = paused_at(browser)
    cells = browser.find_elements("css selector", ".tg-graph svg text")
    assert any(c.get_attribute("textContent").startswith("grad norm") for c in cells)
    link = browser.find_element("css selector", ".tg-open").get_attribute("href")
    assert link.endswith(f"&step={k}")
    browser.get(link)
    title = browser.find_element("css selector", ".tg-explain .tg-name").text
    assert title.endswith(f"at step {k}")
    assert int(browser.find_element("css selector", ".tg-range").get_attribute("max")) > 3
