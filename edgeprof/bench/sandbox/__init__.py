"""Run untrusted programs (model-written code) in a separate, confined process: see ``runner``."""
