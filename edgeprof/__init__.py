"""edgeprof: profile LLMs on edge devices with llama.cpp (convert, bench, plot)."""

__version__ = "0.1.0"
