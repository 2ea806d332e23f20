"""Resource samplers: one module per source, all behind the ``Sampler`` protocol.

A ``Monitor`` runs the available samplers in a background thread while a benchmark runs and
tags every reading with the phase the timed loop is in (load, prefill, decode). A sampler that
cannot read its sensor here is simply not available: its metrics are absent, never 0.
"""

from __future__ import annotations

from edgeprof.bench.resources.base import Monitor, Reading, Sampler, available_samplers

__all__ = ["Monitor", "Reading", "Sampler", "available_samplers"]
