"""`tapegrad train`'s defaults are `fit_table`'s: the command keeps them as literals beside its
options (so --help needs no NumPy), and this checks that each one still equals the library's."""

from __future__ import annotations

import dataclasses

from tapegrad import tables
from tapegrad.cli import build_parser, sub_parser


def test_every_train_option_defaults_to_the_table_settings_default():
    defaults = vars(sub_parser(build_parser(), "train").parse_args(["--data", "iris"]))
    settings = {f.name: f.default for f in dataclasses.fields(tables.TableSettings)}
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}
    shared = sorted(set(defaults) & set(settings) - {"progress", "snapshots"})
    assert {"l2", "batch_size", "validation_fraction", "patience", "schedule"} <= set(shared)
    for name in shared:
        assert defaults[name] == settings[name], name


def test_the_help_names_the_librarys_defaults():
    text = sub_parser(build_parser(), "train").format_help()
    flat = " ".join(text.split())
    assert f"(default: {tables.DEFAULT_PATIENCE})" in flat
    assert f"(default: {tables.DEFAULT_VALIDATION:g})" in flat
    assert f"(default: {tables.DEFAULT_EPOCHS})" in flat
