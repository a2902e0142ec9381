"""Subcommands of the `tapegrad` command line, one module each (see tapegrad.cli)."""
