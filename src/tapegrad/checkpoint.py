"""Saving and loading models as JSON, written atomically and checked in full before use.

A checkpoint is {"format": "tapegrad-model", "version": 1, "architecture": model.config(),
"parameters": {name: value}}, plus "optimizer", "training" ({"loss": name}) and "preprocessing"
when saved along; its last key, "checksum", is the SHA-256 of the text before it. Loading checks
everything, cheapest first (size, JSON depth, checksum, envelope, architecture against the
limits and the weights held), before a weight changes. No pickle, no eval: data only.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from . import limits
from ._files import write_text
from .limits import MAX_LAYERS, MAX_PARAMETERS, MAX_WIDTH
from .losses import LOSSES
from .nn import MLP

if TYPE_CHECKING:
    from .optim import Optimizer
    from .preprocessing import Preprocessor

FORMAT = "tapegrad-model"
VERSION = 1
LOSS_NAMES = tuple(LOSSES)

# Hard limits, checked before anything is allocated. The sizes of a model are `tapegrad.limits`'
# (MAX_LAYERS, MAX_WIDTH, MAX_PARAMETERS, named here too), the ones MLP and `train` keep, so
# every model that can be built and saved loads; MAX_BYTES leaves room for MAX_PARAMETERS
# weights and Adam's buffers (about 203 MiB).
MAX_BYTES = 256 * 2**20
"""Largest checkpoint file read, in bytes."""
MAX_DEPTH = 16
"""Deepest JSON nesting read (a checkpoint nests 4 deep)."""

_CHECKSUM_TAIL = re.compile(r',\s*"checksum"\s*:\s*"sha256:([0-9a-f]{64})"\s*\}\s*\Z')


class CheckpointError(ValueError):
    """A checkpoint could not be saved or loaded; the message names the file and the problem."""


def save(
    model: MLP,
    path: str | os.PathLike,
    *,
    optimizer: Optimizer | None = None,
    loss: str | None = None,
    preprocessor: Preprocessor | None = None,
) -> None:
    """Write `model` (architecture and weights) to `path` as JSON, atomically, with the
    `optimizer`'s state (for `load_optimizer`), the `loss` it was trained with and the
    `preprocessor` of its table when given (`load_training` reads those two back)."""
    path = Path(path)
    if loss is not None and loss not in LOSS_NAMES:
        raise ValueError(f"loss must be one of {', '.join(LOSS_NAMES)}, got {loss!r}")
    if not callable(getattr(model, "config", None)):
        raise TypeError(f"save needs a model with config() (an MLP), got {type(model).__name__}")
    parameters = model.state_dict()
    doc: dict[str, object] = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": model.config(),
        "parameters": parameters,
    }
    for name, v in parameters.items():
        if not _is_finite_number(v):
            raise CheckpointError(f"{path}: refusing to save: parameter {name!r} is {v}")
    if optimizer is not None:
        doc["optimizer"] = optimizer.state_dict()
    if loss is not None:
        doc["training"] = {"loss": loss}
    if preprocessor is not None:
        doc["preprocessing"] = preprocessor.to_dict()
    try:
        text = json.dumps(doc, indent=1, allow_nan=False)
    except ValueError as e:  # a non-finite number in the optimizer state
        raise CheckpointError(f"{path}: refusing to save: {e}") from None
    body = text[: -len("\n}")]  # the checksum goes in as the last key
    text = f'{body},\n "checksum": "sha256:{_digest(body)}"\n}}\n'
    try:
        write_text(path, text, keep_suffix=False)  # temp files end in .tmp: see _files
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write: {e.strerror or e}") from e


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class _NoDraws:
    """A stand-in random source for a model whose weights are about to be loaded anyway."""

    @staticmethod
    def uniform(a: float, b: float) -> float:
        return 0.0


def load(path: str | os.PathLike, model: MLP | None = None) -> MLP:
    """Read a checkpoint into a new model built from its architecture, or into `model` (whose
    architecture must match). Any problem raises CheckpointError before a weight changes."""
    path = Path(path)
    doc = _read(path)
    arch = doc["architecture"]
    params = doc["parameters"]
    if model is None:
        _check_sizes(path, arch, len(params))
        try:
            target = MLP.from_config(arch, rng=_NoDraws())  # weights are overwritten below
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{path}: bad architecture: {e}") from None
    else:
        if arch != model.config():
            raise CheckpointError(
                f"{path}: architecture {arch} does not match the model's {model.config()}"
            )
        target = model
    try:  # names, count and values are checked in one place, before any weight changes
        target.load_state_dict(params)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: parameters do not fit the architecture: {e}") from None
    return target


def _check_sizes(path: Path, arch: dict, found: int) -> None:
    """Refuse an architecture over the limits (`tapegrad.limits`, the ones `MLP` itself keeps),
    or far larger than the file's weights, before building."""
    nin, nouts = arch.get("nin"), arch.get("nouts")
    sizes = [nin, *nouts] if isinstance(nouts, list) else [nin]
    try:
        if isinstance(nouts, list):
            limits.check("{} layers", len(nouts), MAX_LAYERS)
        for i, n in enumerate(sizes):
            if type(n) is int:
                limits.check("nin is {}" if i == 0 else f"layer {i} has {{}} neurons", n, MAX_WIDTH)
        widths = [n for n in sizes if type(n) is int and n >= 1]
        if len(widths) != len(sizes) or len(widths) < 2:
            return  # not sizes at all: MLP.from_config says what is wrong
        count = limits.check_network(widths[0], widths[1:])
    except limits.LimitError as e:
        raise CheckpointError(f"{path}: bad architecture: {e}") from None
    # A model no bigger than about what the file holds is built, so the message can name the
    # missing weights; one far bigger is refused from the counts alone.
    if count > 2 * found + 64:
        raise CheckpointError(
            f"{path}: parameters do not fit the architecture: expected {count:,} parameters, "
            f"found {found:,}"
        )


def load_training(path: str | os.PathLike) -> tuple[str | None, Preprocessor | None]:
    """(the loss the model was trained with, its table preprocessing), each None if not saved."""
    # Imported here: a model alone loads without NumPy.
    from .data import DataError
    from .preprocessing import Preprocessor

    path = Path(path)
    doc = _read(path)
    loss = doc["training"]["loss"] if "training" in doc else None
    if "preprocessing" not in doc:
        return loss, None
    try:
        return loss, Preprocessor.from_dict(doc["preprocessing"])
    except DataError as e:
        raise CheckpointError(f"{path}: {e}") from None


def load_optimizer(path: str | os.PathLike, optimizer: Optimizer) -> None:
    """Restore the optimizer state saved with `save(..., optimizer=...)` into `optimizer`."""
    path = Path(path)
    doc = _read(path)
    if "optimizer" not in doc:
        raise CheckpointError(f"{path}: holds no optimizer state (saved without optimizer=)")
    try:
        optimizer.load_state_dict(doc["optimizer"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: optimizer state: {e}") from None


def _is_finite_number(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        return False


def _reject_constant(token: str):
    raise ValueError(f"non-finite number {token} (weights must be finite)")


def _no_duplicates(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):  # rare: find the first repeated key for the message
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError(f"duplicate key {k!r}")
            seen.add(k)
    return out


def _read_text(path: Path) -> str:
    """The file's text, refused before reading if it is not a regular file or is too big."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f"{path}: not a regular file (a checkpoint is a JSON file)")
        if st.st_size > MAX_BYTES:
            raise CheckpointError(
                f"{path}: {st.st_size:,} bytes, larger than the checkpoint limit {MAX_BYTES:,}"
            )
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_BYTES:  # it grew after the size check
        raise CheckpointError(f"{path}: larger than the checkpoint limit {MAX_BYTES:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not a tapegrad checkpoint (not UTF-8 text)") from None


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_depth(path: Path, text: str) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH (a linear scan, before the recursive parser)."""
    if text.count("{") + text.count("[") <= MAX_DEPTH:
        return  # too few brackets to nest that deep: skip the scan
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()
        if c == "{" or c == "[":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, m.start()) + 1
                raise CheckpointError(
                    f"{path}: JSON nested more than {MAX_DEPTH} deep (line {line}); "
                    "not a tapegrad checkpoint"
                )
        elif c == "}" or c == "]":
            depth -= 1


def _checksum_matches(text: str) -> bool | None:
    """Whether the trailing checksum matches the text before it; None when there is none."""
    tail = text[-200:]
    m = _CHECKSUM_TAIL.search(tail)
    if m is None:
        return None
    return _digest(text[: len(text) - len(tail) + m.start()]) == m.group(1)


def _read(path: Path) -> dict:
    """Parse and check the envelope: format, version, architecture and parameters present."""
    text = _read_text(path)
    _check_depth(path, text)
    try:
        doc = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        cut = e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string")
        hint = " (truncated?)" if cut and text.strip() else ""
        raise CheckpointError(
            f"{path}: not valid JSON{hint}: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from None
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise CheckpointError(f"{path}: not a tapegrad model (format {found!r}, want {FORMAT!r})")
    version = doc.get("version")
    if type(version) is not int or version != VERSION:
        raise CheckpointError(
            f"{path}: unsupported checkpoint version {version!r} (this tapegrad reads {VERSION})"
        )
    for key, kind in (("architecture", dict), ("parameters", dict)):
        if not isinstance(doc.get(key), kind):
            raise CheckpointError(f"{path}: '{key}' is missing or not a JSON object")
    allowed = {
        "format", "version", "architecture", "parameters", "optimizer", "training",
        "preprocessing",
    }  # fmt: skip
    extra = sorted(set(doc) - allowed - {"checksum"})
    if extra:
        raise CheckpointError(f"{path}: unexpected top-level keys {extra}")
    training = doc.get("training")
    if training is not None and not (
        isinstance(training, dict) and set(training) == {"loss"} and training["loss"] in LOSS_NAMES
    ):
        raise CheckpointError(
            f"{path}: 'training' must be {{\"loss\": one of {', '.join(LOSS_NAMES)}}}, "
            f"got {training!r}"
        )
    # Last, once the file is known to be a checkpoint: has any byte changed since it was saved?
    if "checksum" in doc:
        matches = _checksum_matches(text)
        if matches is None:
            raise CheckpointError(
                f"{path}: the checksum cannot be verified: it must be the last key, "
                '"checksum": "sha256:<64 hex digits>" (delete it to load a hand-edited file)'
            )
        if not matches:
            raise CheckpointError(
                f"{path}: the file is corrupt: its content does not match its checksum "
                "(a byte changed on disk or in transit, or it was edited by hand)"
            )
    return doc


__all__ = [
    "FORMAT",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_LAYERS",
    "MAX_PARAMETERS",
    "MAX_WIDTH",
    "VERSION",
    "CheckpointError",
    "load",
    "load_optimizer",
    "load_training",
    "save",
]
