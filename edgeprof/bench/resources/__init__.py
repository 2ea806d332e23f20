"""Resource sensors: one module per source, all behind the ``Sensor`` protocol.

A ``Monitor`` runs the available sensors in a background thread while a benchmark runs and
tags every reading with the phase the timed loop is in (load, prefill, decode). A sensor that
cannot read its sensor here is simply not available: its metrics are absent, never 0.
"""

from __future__ import annotations

from edgeprof.bench.resources.base import Monitor, Reading, Sensor, available_sensors

__all__ = ["Monitor", "Reading", "Sensor", "available_sensors"]
