"""`edgeprof convert --models FILE`: convert every model a models.toml lists."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from edgeprof.progress import Say, quiet


def convert_models_file(path: Path, options, say: Say = quiet) -> list:
    """Each model with its own levels, type, name and importance matrix from the file; ``options`` gives
    the rest (output folder, threads, progress) and the matrix of models that ask for none (--imatrix)."""
    from edgeprof.quantize.pipeline import convert
    from edgeprof.workflow.imatrix_corpus import model_imatrix
    from edgeprof.workflow.models_file import load_models_file

    files = []
    for model in load_models_file(path, imatrix_given=options.imatrix is not None).models:
        say(f"== {model.name} ({model.source})")
        files += convert(model.source, replace(options, levels=model.levels, outtype=model.outtype, name=model.name,
                                               revision=model.revision,
                                               imatrix=model_imatrix(model) or options.imatrix), say)
    return files
