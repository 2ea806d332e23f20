"""`edgeprof convert`: Hugging Face checkpoint -> GGUF -> quantization levels."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprof import limits
from edgeprof.cli.options import NO_PROGRESS_OPTION, VERBOSE_OPTION, CheckedPath, Number, say
from edgeprof.levels import OUTTYPE_CHOICES


@click.command()
@click.argument("source", required=False)
@click.option("--quant", "-q", "quant", metavar="LEVELS",
              help="Comma-separated llama.cpp levels, e.g. Q8_0,Q4_K_M,IQ4_XS.")
@click.option("--recipe", metavar="NAME", help="A named set of levels from quantize/ (e.g. common).")
@click.option("--outtype", type=click.Choice(OUTTYPE_CHOICES), default="auto", show_default=True,
              help="Type of the unquantized file; auto keeps the source's own 16-bit type.")
@click.option("--out", "out_dir", type=CheckedPath("dir"), default=Path("models"),
              show_default=True, help="Folder for the GGUF files.")
@click.option("--models", "models_file", type=CheckedPath("file"),
              help="Convert every model in this models.toml (instead of SOURCE).")
@click.option("--name", help="Model name used in output file names (default: from SOURCE).")
@click.option("--revision", help="Hub revision (branch, tag or commit) for a repo id SOURCE.")
@click.option("--threads", "-t", type=Number(limits.threads), help="Quantization threads [default: all cores].")
@click.option("--allow-pickle", is_flag=True, help="For repos with only pytorch_model.bin: read its tensors with "
              "edgeprof's restricted reader (never runs code from the file).")
@click.option("--imatrix", "imatrix_corpus", metavar="CORPUS",
              help="Compute an importance matrix on CORPUS (a text corpus such as gsm8k_text, or a text file) "
              "with the unquantized file and quantize every level with it; enables IQ1_S..IQ3_XXS and Q2_K_S.")
@click.option("--imatrix-ctx", type=Number(limits.CONTEXT), default=512, show_default=True,
              help="Tokens per importance-matrix chunk (llama-imatrix -c).")
@click.option("--imatrix-chunks", type=Number(limits.COUNT), help="At most this many chunks [default: all].")
@click.option("--list-levels", is_flag=True, help="List the quantization levels and recipes, then exit.")
@NO_PROGRESS_OPTION
@VERBOSE_OPTION
def convert(source, quant, recipe, outtype, out_dir, models_file, name, revision, threads, allow_pickle,
            imatrix_corpus, imatrix_ctx, imatrix_chunks, list_levels, no_progress, verbose) -> None:
    """Convert a Hugging Face checkpoint to GGUF and quantize it to each requested level.

    SOURCE is a hub repo id (owner/name), a local checkpoint folder, a .gguf file (only the
    quantization sweep runs), or `demo` for the embedded SmolLM2-135M-Instruct.

    \b
    edgeprof convert demo --recipe demo
    edgeprof convert ./my-llama --quant Q4_K_M,Q5_K_M --outtype bf16
    edgeprof convert model-F16.gguf --quant Q4_0 --out quantized/
    edgeprof convert ./old-model --allow-pickle --quant Q8_0   # only pytorch_model.bin there
    edgeprof convert demo --quant IQ2_XS,Q4_K_M --imatrix gsm8k_text
    edgeprof convert --models models.toml                      # every model listed there
    """
    from edgeprof import llamacpp
    from edgeprof.paths import all_cores
    from edgeprof.quantize.pipeline import ConvertOptions

    if list_levels:
        from edgeprof.quantize.summary import describe_levels

        click.echo(describe_levels())
        return
    if quant and recipe:
        raise click.UsageError("give --quant or --recipe, not both")
    if bool(source) == bool(models_file):
        raise click.UsageError("give a SOURCE or --models FILE (one of them)")
    from edgeprof.paths import check_writable

    levels = _levels(quant, recipe, with_imatrix=bool(imatrix_corpus))
    from edgeprof.workflow.imatrix_corpus import imatrix_options

    imatrix = imatrix_options(imatrix_corpus, imatrix_ctx, imatrix_chunks) if imatrix_corpus else None
    check_writable(out_dir)  # before converting: found after it, the work would be lost
    llamacpp.init(verbose)
    options = ConvertOptions(levels=levels, outtype=outtype, out_dir=out_dir,
                             threads=threads or all_cores(), name=name, revision=revision,
                             progress=not no_progress, allow_pickle=allow_pickle, imatrix=imatrix)
    from edgeprof.locks import hold

    with hold(out_dir, "edgeprof convert", "--out", say):  # one convert (or run) per output folder
        if models_file:
            from edgeprof.workflow.convert_all import convert_models_file

            files = convert_models_file(models_file, options, say)
        else:
            from edgeprof.quantize.pipeline import convert as convert_source

            files = convert_source(source, options, say)
    from edgeprof.quantize.summary import summary_table

    click.echo(summary_table(files))


def _levels(quant: str | None, recipe: str | None, with_imatrix: bool) -> tuple[str, ...]:
    from edgeprof.levels import parse_list
    from edgeprof.quantize.recipes import load_recipe

    if quant is not None:  # --quant "" or "," names no level: refused, never taken as "none"
        return tuple(parse_list(quant, with_imatrix=with_imatrix))
    return load_recipe(recipe).levels if recipe else ()
