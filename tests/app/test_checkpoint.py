"""checkpoint: exact round trips, every kind of bad file rejected with the model unchanged, and
atomic writes that survive a crash between write and rename."""

import json
import math
import os
import subprocess
import sys

import pytest

import tapegrad
from tapegrad import checkpoint
from tapegrad.checkpoint import CheckpointError, load, load_optimizer, save
from tapegrad.nn import MLP
from tapegrad.optim import SGD, Adam


def lecture_model(seed: int = 0) -> MLP:
    m = MLP(3, [4, 4, 1], act="tanh", seed=seed)
    m.layers[1].neurons[2].b.data = 0.1 + 0.2  # 0.30000000000000004 must survive exactly
    m.layers[0].neurons[0].w[0].data = 5e-324  # the smallest subnormal, too
    return m


def files_in(directory) -> list[str]:
    return sorted(os.listdir(directory))


def test_round_trip_is_exact(tmp_path):
    m = lecture_model()
    path = tmp_path / "model.json"
    save(m, path)
    loaded = load(path)
    assert isinstance(loaded, MLP)
    assert loaded.config() == m.config()
    assert loaded.state_dict() == m.state_dict()
    x = [0.4, -1.1, 2.0]
    assert loaded(x).data == m(x).data
    other = lecture_model(seed=9)
    assert load(path, other) is other
    assert other.state_dict() == m.state_dict()
    assert files_in(tmp_path) == ["model.json"]


def test_file_layout(tmp_path):
    m = MLP(2, [3, 1], seed=0)
    path = tmp_path / "m.json"
    save(m, str(path))  # str paths too
    doc = json.loads(path.read_text())
    assert doc["format"] == "tapegrad-model" and doc["version"] == 1
    assert doc["architecture"] == {"type": "MLP", "nin": 2, "nouts": [3, 1], "act": "relu"}
    assert list(doc["parameters"]) == [n for n, _ in m.named_parameters()]


def test_top_level_names_resolve_here():
    assert tapegrad.save is save and tapegrad.load is load


def test_load_does_not_disturb_global_random(tmp_path):
    import random

    path = tmp_path / "m.json"
    save(MLP(2, [16, 16, 1], seed=0), path)
    random.seed(5)
    expected = random.random()
    random.seed(5)
    load(path)
    assert random.random() == expected


def good_doc() -> dict:
    m = MLP(2, [2, 1], act="tanh", seed=0)
    return {
        "format": "tapegrad-model",
        "version": 1,
        "architecture": m.config(),
        "parameters": m.state_dict(),
    }


def mutated(fn):
    doc = good_doc()
    fn(doc)
    return json.dumps(doc)


BAD_FILES = {
    "truncated": (json.dumps(good_doc())[:120], r"not valid JSON \(truncated\?\)"),
    "empty": ("", "not valid JSON"),
    "not json": ("model: [1, 2, 3]\n", "not valid JSON: .*line 1, column 1"),
    "a list": ("[1, 2]", "not a tapegrad model"),
    "wrong format": (mutated(lambda d: d.update(format="keras")), "format 'keras'"),
    "wrong version": (mutated(lambda d: d.update(version=2)), "version 2"),
    "string version": (mutated(lambda d: d.update(version="1")), "version '1'"),
    "bool version": (mutated(lambda d: d.update(version=True)), "version True"),
    "no architecture": (mutated(lambda d: d.pop("architecture")), "'architecture' is missing"),
    "bad activation": (
        mutated(lambda d: d["architecture"].update(act="gelu")),
        "bad architecture.*'gelu'",
    ),
    "bad layer size": (
        mutated(lambda d: d["architecture"].update(nouts=[2, -1])),
        r"bad architecture.*nouts\[1\]",
    ),
    "missing parameter": (
        mutated(lambda d: d["parameters"].pop("layers.1.neurons.0.b")),
        "expected 9 parameters, got 8; missing 'layers.1.neurons.0.b'",
    ),
    "extra parameter": (
        mutated(lambda d: d["parameters"].update({"layers.2.neurons.0.b": 0.0})),
        "unexpected 'layers.2.neurons.0.b'",
    ),
    "NaN token": (
        json.dumps(good_doc()).replace(
            '"layers.1.neurons.0.b": 0.0', '"layers.1.neurons.0.b": NaN'
        ),
        "non-finite number NaN",
    ),
    "Infinity token": (
        json.dumps(good_doc()).replace(
            '"layers.1.neurons.0.b": 0.0', '"layers.1.neurons.0.b": -Infinity'
        ),
        "non-finite number -Infinity",
    ),
    "overflowing float": (
        json.dumps(good_doc()).replace(
            '"layers.1.neurons.0.b": 0.0', '"layers.1.neurons.0.b": 1e400'
        ),
        "'layers.1.neurons.0.b' is inf",
    ),
    "huge integer": (
        mutated(lambda d: d["parameters"].update({"layers.1.neurons.0.b": 10**400})),
        "'layers.1.neurons.0.b' is 1000",
    ),
    "string weight": (
        mutated(lambda d: d["parameters"].update({"layers.0.neurons.1.w.0": "0.5"})),
        "'layers.0.neurons.1.w.0' is '0.5', not a finite number",
    ),
    "null weight": (
        mutated(lambda d: d["parameters"].update({"layers.0.neurons.1.w.0": None})),
        "is None",
    ),
    "duplicate key": (
        json.dumps(good_doc()).replace(
            '"layers.1.neurons.0.b": 0.0', '"layers.1.neurons.0.b": 0.0, "layers.1.neurons.0.b": 1'
        ),
        "duplicate key 'layers.1.neurons.0.b'",
    ),
    "unknown top-level key": (
        mutated(lambda d: d.update(code="import os")),
        "unexpected top-level",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_are_rejected_and_the_model_is_unchanged(tmp_path, case):
    text, message = BAD_FILES[case]
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(CheckpointError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)
    model = MLP(2, [2, 1], act="tanh", seed=3)
    before = model.state_dict()
    with pytest.raises(CheckpointError):
        load(path, model)
    assert model.state_dict() == before


def test_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "junk.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(CheckpointError, match="not UTF-8"):
        load(path)
    with pytest.raises(CheckpointError, match="nope.json: no such file"):
        load(tmp_path / "nope.json")


def test_wrong_architecture_for_given_model(tmp_path):
    path = tmp_path / "m.json"
    save(MLP(2, [16, 16, 1], seed=0), path)
    for other in (MLP(2, [16, 1], seed=1), MLP(2, [16, 16, 1], act="tanh", seed=1)):
        before = other.state_dict()
        with pytest.raises(CheckpointError, match="does not match the model's"):
            load(path, other)
        assert other.state_dict() == before


def test_non_finite_weights_refuse_to_save(tmp_path):
    path = tmp_path / "m.json"
    good = MLP(2, [2, 1], seed=0)
    save(good, path)
    old = path.read_bytes()
    bad = MLP(2, [2, 1], seed=1)
    bad.layers[0].neurons[1].w[0].data = math.nan
    with pytest.raises(
        CheckpointError, match=r"refusing to save: parameter 'layers.0.neurons.1.w.0'"
    ):
        save(bad, path)
    assert path.read_bytes() == old
    assert files_in(tmp_path) == ["m.json"]


class Crash(Exception):
    """Stands in for the process dying."""


@pytest.mark.parametrize("where", ["replace", "fsync"])
def test_crash_before_rename_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, where):
    path = tmp_path / "model.json"
    first = MLP(2, [3, 1], seed=0)
    save(first, path)
    old = path.read_bytes()

    def crash(*args, **kwargs):
        raise Crash(where)

    monkeypatch.setattr(checkpoint.os, where, crash)
    with pytest.raises(Crash):
        save(MLP(2, [3, 1], seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert files_in(tmp_path) == ["model.json"]
    assert load(path).state_dict() == first.state_dict()


def test_crash_on_first_save_leaves_nothing(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise Crash("replace")

    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(Crash):
        save(MLP(2, [3, 1], seed=1), tmp_path / "model.json")
    assert files_in(tmp_path) == []


def test_overwrite_replaces_and_keeps_permissions(tmp_path):
    path = tmp_path / "m.json"
    save(MLP(2, [3, 1], seed=0), path)
    os.chmod(path, 0o600)
    newer = MLP(2, [3, 1], seed=1)
    save(newer, path)
    assert load(path).state_dict() == newer.state_dict()
    assert path.stat().st_mode & 0o777 == 0o600


def test_unwritable_destination_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no-dir.*cannot write"):
        save(MLP(2, [1], seed=0), tmp_path / "no-dir" / "m.json")


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps)])
def test_optimizer_state_rides_along(tmp_path, make):
    model = MLP(2, [3, 1], seed=0)
    opt = make(model.parameters())
    for x in ([1.0, 2.0], [-1.0, 0.5]):
        opt.zero_grad()
        model(x).backward()
        opt.step()
    path = tmp_path / "m.json"
    save(model, path, optimizer=opt)
    restored = load(path)
    opt2 = make(restored.parameters())
    load_optimizer(path, opt2)
    assert opt2.state_dict() == opt.state_dict()
    save(model, path)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_optimizer(path, opt2)


def test_trained_loss_round_trip_and_validation(tmp_path):
    model = MLP(2, [3, 1], seed=0)
    path = tmp_path / "m.json"
    tapegrad.save(model, path)
    assert checkpoint.load_training(path) == (None, None)
    tapegrad.save(model, path, loss="mse")
    assert checkpoint.load_training(path) == ("mse", None)
    assert tapegrad.load(path).config() == model.config()
    with pytest.raises(ValueError, match="loss must be one of"):
        tapegrad.save(model, path, loss="svm")
    doc = json.loads(path.read_text())
    doc["training"] = {"loss": "svm"}
    path.write_text(json.dumps(doc))
    with pytest.raises(checkpoint.CheckpointError, match="'training' must be"):
        tapegrad.load(path)


# ---------------------------------------------------------------- hostile files (issue 10)


def no_building(monkeypatch):
    """Make building a model fail loudly, to show a file is refused before any allocation."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built from a checkpoint that should have been refused")

    monkeypatch.setattr(checkpoint.MLP, "from_config", refuse)


def write_doc(path, arch, params=None):
    doc = good_doc()
    doc["architecture"].update(arch)
    if params is not None:
        doc["parameters"] = params
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "arch,message",
    [
        ({"nin": 10**30}, r"nin is 1,000,000,000,000.*, more than the limit 1,000,000"),
        ({"nin": 10**400}, r"nin is a huge integer, more than the limit"),
        ({"nouts": [1] * 100_000}, r"100,000 layers, more than the limit 1,000"),
        ({"nouts": [1000] * 900}, r"parameters, more than the limit 2,000,000"),
        ({"nouts": [1000, 1000, 1]}, r"expected 1,005,001 parameters, found 9"),
    ],
)
def test_oversized_architecture_is_refused_before_anything_is_built(
    tmp_path, monkeypatch, arch, message
):
    path = tmp_path / "huge.json"
    write_doc(path, arch)
    assert path.stat().st_size < 600_000  # the 100k-layer file is small; its model would not be
    no_building(monkeypatch)
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_architecture_is_checked_against_the_files_own_weight_count(tmp_path, monkeypatch):
    # 999 one-neuron layers need 3 + 998 * 2 weights; the file holds 9 (the 17 KB file).
    path = tmp_path / "deep.json"
    write_doc(path, {"nouts": [1] * 999})
    no_building(monkeypatch)
    with pytest.raises(CheckpointError, match="expected 1,999 parameters, found 9"):
        load(path)


def test_the_checkpoint_limits_are_the_ones_mlp_keeps():
    # issue 19: one set of limits, so whatever MLP builds (and train saves) loads back
    from tapegrad import limits

    assert (checkpoint.MAX_LAYERS, checkpoint.MAX_WIDTH, checkpoint.MAX_PARAMETERS) == (
        limits.MAX_LAYERS, limits.MAX_WIDTH, limits.MAX_PARAMETERS
    )  # fmt: skip
    # at the boundary the sizes pass (given the weights), one more is refused as MLP refuses it
    path = checkpoint.Path("m.json")
    checkpoint._check_sizes(path, {"nin": 3, "nouts": [333_333, 2]}, limits.MAX_PARAMETERS)
    checkpoint._check_sizes(path, {"nin": limits.MAX_WIDTH, "nouts": [1]}, 1_000_001)
    for arch, found in (({"nin": 2, "nouts": [666_667]}, 2_000_001),
                        ({"nin": 1, "nouts": [1] * 1001}, 2003)):  # fmt: skip
        with pytest.raises(CheckpointError) as saved:
            checkpoint._check_sizes(path, arch, found)
        with pytest.raises(limits.LimitError) as built:
            MLP(arch["nin"], arch["nouts"])
        assert str(built.value) in str(saved.value)


def test_the_deepest_mlp_saves_and_loads(tmp_path):
    m = MLP(1, [1] * 1000, seed=0)
    save(m, tmp_path / "deep.json")
    assert load(tmp_path / "deep.json").state_dict() == m.state_dict()


def test_file_size_is_capped_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    with open(path, "wb") as f:  # sparse: 1.2 GB on paper, nothing on disk
        f.truncate(1_200_000_000)
    with pytest.raises(CheckpointError, match=r"1,200,000,000 bytes, larger than the checkpoint"):
        load(path)
    small = tmp_path / "small.json"
    save(MLP(2, [3, 1], seed=0), small)
    monkeypatch.setattr(checkpoint, "MAX_BYTES", small.stat().st_size - 1)
    with pytest.raises(CheckpointError, match="larger than the checkpoint limit"):
        load(small)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this platform")
def test_a_device_is_not_read():
    with pytest.raises(CheckpointError, match="/dev/zero: not a regular file"):
        load("/dev/zero")


def test_deeply_nested_json_is_a_clear_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "nested.json"
    path.write_text('{"a": ' * 1000 + "1" + "}" * 1000)
    with pytest.raises(CheckpointError, match="nested more than 16 deep"):
        load(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="nested more than 16 deep"):
        load(path)


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    doc = good_doc()
    doc["parameters"]["[{" * 20 + '\\"' + "}]" * 20] = 0.0
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="unexpected"):  # reaches the name check
        load(path)


def test_cli_predict_refuses_hostile_models_without_a_traceback(tmp_path):
    nested = tmp_path / "nested.json"
    nested.write_text('{"a": ' * 1000 + "1" + "}" * 1000)
    huge = tmp_path / "huge.json"
    write_doc(huge, {"nin": 10**30})
    for model in (nested, huge, "/dev/zero"):
        run = subprocess.run(
            [sys.executable, "-m", "tapegrad", "predict", "--model", str(model), "--data", "moons"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode != 0
        assert "Traceback" not in run.stderr and str(model) in run.stderr, run.stderr


def test_every_single_bit_flip_is_an_error(tmp_path):
    # The attack: single-bit flips loaded as silently changed weights.
    path = tmp_path / "m.json"
    model = MLP(2, [2, 1], act="tanh", seed=0)
    save(model, path)
    good = path.read_bytes()
    loaded = 0
    for i in range(len(good)):
        for bit in (0, 3, 6):
            flipped = bytearray(good)
            flipped[i] ^= 1 << bit
            path.write_bytes(bytes(flipped))
            try:
                load(path)
            except CheckpointError:
                continue
            loaded += 1
    assert loaded == 0


def test_a_changed_weight_is_reported_as_corruption(tmp_path):
    path = tmp_path / "m.json"
    model = MLP(2, [2, 1], act="tanh", seed=0)
    save(model, path)
    name, value = next(iter(model.state_dict().items()))
    text = path.read_text()
    digits = repr(value)
    i = text.index(digits)
    changed = text[:i] + digits[:-1] + str((int(digits[-1]) + 1) % 10) + text[i + len(digits) :]
    path.write_text(changed)
    target = MLP(2, [2, 1], act="tanh", seed=5)
    before = target.state_dict()
    with pytest.raises(CheckpointError, match="m.json: the file is corrupt.*checksum"):
        load(path, target)
    assert target.state_dict() == before


def test_checkpoints_without_a_checksum_still_load(tmp_path):
    path = tmp_path / "old.json"
    model = MLP(2, [3, 1], seed=0)
    save(model, path)
    doc = json.loads(path.read_text())
    assert doc.pop("checksum").startswith("sha256:")
    path.write_text(json.dumps(doc, indent=1) + "\n")  # as tapegrad wrote them before
    assert load(path).state_dict() == model.state_dict()


def test_a_misplaced_checksum_cannot_be_verified(tmp_path):
    path = tmp_path / "m.json"
    save(MLP(2, [3, 1], seed=0), path)
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({"checksum": doc.pop("checksum"), **doc}))
    with pytest.raises(CheckpointError, match="checksum cannot be verified: it must be the last"):
        load(path)


def _save_and_die(path: str) -> None:
    """Run in a child: save a model and be SIGKILLed after writing, before the rename."""
    import signal

    from tapegrad import checkpoint as ck

    def die(fd):
        os.kill(os.getpid(), signal.SIGKILL)

    ck.os.fsync = die
    ck.save(MLP(20, [50, 1], seed=1), path)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="SIGKILL of a child needs POSIX")
def test_temp_file_left_by_a_killed_save_is_cleaned_by_the_next_save(tmp_path):
    path = tmp_path / "model.json"
    save(MLP(2, [3, 1], seed=0), path)
    child = subprocess.run(
        [sys.executable, "-c", f"import test_checkpoint as t; t._save_and_die({str(path)!r})"],
        cwd=os.path.dirname(__file__),
        timeout=120,
    )
    assert child.returncode == -9
    leftovers = [n for n in files_in(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.json.")
    # Temp files that are not stale, or not this target's, must survive the clean-up.
    alive = tmp_path / f".model.json.{os.getpid()}-abcd1234.tmp"  # a save in progress here
    fresh_legacy = tmp_path / ".model.json.k2j4h5g6.tmp"  # written by an older tapegrad, just now
    old_legacy = tmp_path / ".model.json.zz99yy88.tmp"  # ... and two hours ago
    other = tmp_path / ".model.json.bak.1-abcd1234.tmp"  # the temp of another target
    for p in (alive, fresh_legacy, old_legacy, other):
        p.write_text("x")
    two_hours_ago = os.path.getmtime(old_legacy) - 7200
    os.utime(old_legacy, (two_hours_ago, two_hours_ago))
    newer = MLP(2, [3, 1], seed=2)
    save(newer, path)
    assert files_in(tmp_path) == sorted(["model.json", alive.name, fresh_legacy.name, other.name])
    assert load(path).state_dict() == newer.state_dict()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_saving_through_a_symlink_keeps_the_link(tmp_path):
    real_dir = tmp_path / "store"
    real_dir.mkdir()
    target = real_dir / "model.json"
    save(MLP(2, [3, 1], seed=0), target)
    link = tmp_path / "current.json"
    link.symlink_to(target)
    newer = MLP(2, [3, 1], seed=1)
    save(newer, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert load(target).state_dict() == newer.state_dict()
    assert files_in(tmp_path) == ["current.json", "store"]
    assert files_in(real_dir) == ["model.json"]
