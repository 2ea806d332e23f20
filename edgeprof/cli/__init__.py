"""Layer 1: all of click. One module per command; each parses, calls one library function, prints."""

from edgeprof.cli.main import cli, main

__all__ = ["cli", "main"]
