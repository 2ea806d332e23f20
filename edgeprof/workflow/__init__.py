"""Workflows that compose the stages: `edgeprof run` (models.toml end to end)."""
