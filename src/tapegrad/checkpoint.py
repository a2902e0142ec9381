"""Saving and loading models as JSON, written atomically and checked in full before use.

A checkpoint is {"format": "tapegrad-model", "version": 1, "architecture": model.config(),
"parameters": {name: value}} (plus "optimizer": its state dict, and "training": {"loss": name},
when they are saved along, so a checkpoint can be resumed and its outputs read right). It is
written to a temporary file in the same directory, flushed, fsynced and renamed over the
target, so a crash leaves the old file or the new one, never half of either. Loading checks the
format, version, architecture, parameter names and count and that every weight is a finite
number before it touches any weight. No pickle, no eval: a checkpoint is data only.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .losses import LOSSES
from .nn import MLP

if TYPE_CHECKING:
    from .optim import Optimizer

FORMAT = "tapegrad-model"
VERSION = 1
LOSS_NAMES = tuple(LOSSES)


class CheckpointError(ValueError):
    """A checkpoint could not be saved or loaded; the message names the file and the problem."""


def save(
    model: MLP,
    path: str | os.PathLike,
    *,
    optimizer: Optimizer | None = None,
    loss: str | None = None,
) -> None:
    """Write `model` (architecture and weights) to `path` as JSON, atomically. With
    `optimizer`, its state is stored too (`load_optimizer` restores it, for resuming); with
    `loss`, the name of the loss it was trained with (`trained_loss` reads it back)."""
    path = Path(path)
    if loss is not None and loss not in LOSS_NAMES:
        raise ValueError(f"loss must be one of {', '.join(LOSS_NAMES)}, got {loss!r}")
    if not callable(getattr(model, "config", None)):
        raise TypeError(f"save needs a model with config() (an MLP), got {type(model).__name__}")
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": model.config(),
        "parameters": model.state_dict(),
    }
    for name, v in doc["parameters"].items():
        if not _is_finite_number(v):
            raise CheckpointError(f"{path}: refusing to save: parameter {name!r} is {v}")
    if optimizer is not None:
        doc["optimizer"] = optimizer.state_dict()
    if loss is not None:
        doc["training"] = {"loss": loss}
    try:
        text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    except ValueError as e:  # a non-finite number in the optimizer state
        raise CheckpointError(f"{path}: refusing to save: {e}") from None
    try:
        _atomic_write(path, text)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write: {e.strerror or e}") from e


def _atomic_write(path: Path, text: str) -> None:
    directory = path.parent
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:  # keep an existing file's permissions; a new one gets the usual 0644
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    # Make the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: str | os.PathLike, model: MLP | None = None) -> MLP:
    """Read a checkpoint. With no `model`, build one from its architecture and return it; with
    a `model`, check the architecture matches and load the weights into it (and return it).
    Any problem raises CheckpointError before a single weight changes."""
    path = Path(path)
    doc = _read(path)
    arch = doc["architecture"]
    if model is None:
        try:
            target = MLP.from_config(arch, seed=0)  # weights are overwritten below
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{path}: bad architecture: {e}") from None
    else:
        if arch != model.config():
            raise CheckpointError(
                f"{path}: architecture {arch} does not match the model's {model.config()}"
            )
        target = model
    params = doc["parameters"]
    names = [n for n, _ in target.named_parameters()]
    missing = [n for n in names if n not in params]
    extra = [n for n in params if n not in set(names)]
    if missing or extra:
        what = [f"expected {len(names)} parameters, found {len(params)}"]
        if missing:
            what.append(f"missing {_some(missing)}")
        if extra:
            what.append(f"unexpected {_some(extra)}")
        raise CheckpointError(f"{path}: parameters do not fit the architecture: {'; '.join(what)}")
    for name, v in params.items():
        if not _is_finite_number(v):
            raise CheckpointError(f"{path}: parameter {name!r} is {v!r}, not a finite number")
    try:
        target.load_state_dict(params)
    except (ValueError, TypeError) as e:  # checked above; kept as a last line of defence
        raise CheckpointError(f"{path}: {e}") from None
    return target


def trained_loss(path: str | os.PathLike) -> str | None:
    """The loss the checkpoint's model was trained with, if it was saved with `loss=`."""
    training = _read(Path(path)).get("training")
    return None if training is None else training["loss"]


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


def _some(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _reject_constant(token: str):
    raise ValueError(f"non-finite number {token} (weights must be finite)")


def _no_duplicates(pairs: list) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _read(path: Path) -> dict:
    """Parse and check the envelope: format, version, architecture and parameters present."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not a tapegrad checkpoint (not UTF-8 text)") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e.strerror or e}") from None
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
    allowed = {"format", "version", "architecture", "parameters", "optimizer", "training"}
    extra = sorted(set(doc) - allowed)
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
    return doc


__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointError",
    "load",
    "load_optimizer",
    "save",
    "trained_loss",
]
