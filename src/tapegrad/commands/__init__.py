"""Subcommands of the `tapegrad` command line, one module each (see tapegrad.cli)."""

from __future__ import annotations
