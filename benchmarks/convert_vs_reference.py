"""Check `edgeprof convert` against llama.cpp's own convert_hf_to_gguf.py on the same checkpoints.

Each checkpoint is converted by both converters (F16 and BF16 by default) and the two GGUF files
are compared:

  * every tensor: name, shape, GGUF type and bytes (bit-equal is the goal at F16/BF16);
  * every metadata key and value: keys only one side writes, values that differ;
  * the tokenizer: tokens, scores, token types, merges, special token ids and flags, template;
  * the cost of each converter process, start to exit: wall time, peak RSS (VmHWM) and peak private
    memory (RssAnon), polled from /proc (edgeprof maps the safetensors: their file pages count in
    RSS but are reclaimable page cache). edgeprof runs with an empty cache, so it hashes the source
    as on a first conversion.

Every difference is printed with its reason from KNOWN_DIFFERENCES below, or as UNEXPLAINED; the
exit status is 1 when any difference is unexplained (2 when a converter failed), else 0.

Checkpoints: --demo (the embedded SmolLM2-135M-Instruct that `edgeprof convert demo` rebuilds) and
--arch all|NAME[,NAME] (one tiny random model per supported architecture, built by tests/tiny.py,
the builder the conversion tests use: random weights, a tokenizer trained on the fly; here with the
tokenizer_class, model_type and head_dim the family's real checkpoints state, since transformers,
and so the reference, fill in its own defaults for what config.json leaves out). A tiny byte-level
BPE tokenizer is unknown to the reference's table of pre-tokenizer hashes, so the reference is told
the pre-tokenizer the checkpoint was built with (see reference_converter.py); the output says so.

    python benchmarks/convert_vs_reference.py --demo --arch all
    python benchmarks/convert_vs_reference.py --arch gemma3 --outtype bf16 --keep /tmp/cmp

The reference runs in its own virtualenv with torch and transformers, made on first use (see
benchmarks/reference_converter.py); edgeprof itself needs neither.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]

from reference_converter import FALLBACK_MARK, llama_cpp_dir, reference_command  # noqa: E402
from tiny import TinySpec, build_checkpoint  # noqa: E402  (tests/tiny.py: numpy, tokenizers, sentencepiece)

# ---- the checkpoints ---------------------------------------------------------------------------

# tests/tiny.py's byte-level BPE styles -> the llama.cpp pre-tokenizer each was built with
PRE_OF_STYLE = {"smollm": "smollm", "llama3": "llama-bpe", "gpt2": "gpt-2", "gpt4o": "gpt-4o"}
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 128}
LONGROPE = {"rope_type": "longrope", "long_factor": [1.0 + 0.25 * i for i in range(16)],
            "short_factor": [1.0 + 0.05 * i for i in range(16)]}


@dataclass(frozen=True)
class Case:
    name: str
    spec: TinySpec | None  # None: the demo checkpoint
    note: str = ""
    tokenizer_class: str = ""  # tokenizer_config.json's, as the family's real checkpoints name it

    @property
    def arch(self) -> str:
        return self.spec.arch if self.spec else "LlamaForCausalLM"

    @property
    def pre(self) -> str | None:
        return PRE_OF_STYLE.get(self.spec.tokenizer) if self.spec else None


# One tiny model per supported architecture, each with the settings that family's real checkpoints
# use (tokenizer kind, tied embeddings, bf16 weights, rope scaling, soft-capping, sliding windows).
CASES = {
    "llama": Case("llama", TinySpec(arch="LlamaForCausalLM", tokenizer="llama3", rope_scaling=LLAMA3_ROPE),
                  "Llama 3.x: llama-bpe BPE, llama3 rope scaling", "PreTrainedTokenizerFast"),
    "mistral": Case("mistral", TinySpec(arch="MistralForCausalLM", tokenizer="spm",
                                        config_extra={"sliding_window": None}),
                    "Mistral 7B: SentencePiece tokenizer.model", "LlamaTokenizer"),
    "qwen2": Case("qwen2", TinySpec(arch="Qwen2ForCausalLM", tokenizer="gpt2", tied=True, dtype="BF16"),
                  "Qwen2.5: q/k/v bias, tied, bf16", "Qwen2Tokenizer"),
    "qwen3": Case("qwen3", TinySpec(arch="Qwen3ForCausalLM", tokenizer="gpt4o", dtype="BF16", head_dim=96,
                                    config_extra={"rope_theta": 1000000.0}),
                  "Qwen3: q/k norms, head_dim != hidden/heads, bf16", "Qwen2Tokenizer"),
    "gemma2": Case("gemma2", TinySpec(
        arch="Gemma2ForCausalLM", tokenizer="gemma-spm", tied=True, dtype="BF16", head_dim=64,
        config_extra={"sliding_window": 4, "query_pre_attn_scalar": 64, "attn_logit_softcapping": 50.0,
                      "final_logit_softcapping": 30.0, "hidden_activation": "gelu_pytorch_tanh"}),
        "Gemma 2: soft-capping, sliding window, 1+w norms", "GemmaTokenizer"),
    "gemma3": Case("gemma3", TinySpec(
        arch="Gemma3ForCausalLM", tokenizer="gemma-spm", tied=True, dtype="BF16", layers=3, head_dim=64,
        config_extra={"model_type": "gemma3_text", "sliding_window": 4, "query_pre_attn_scalar": 64,
                      "rope_local_base_freq": 10000.0, "rope_theta": 1000000.0, "final_logit_softcapping": None,
                      "attn_logit_softcapping": None, "hidden_activation": "gelu_pytorch_tanh",
                      "rope_scaling": {"rope_type": "linear", "factor": 8.0},
                      "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]}),
        "Gemma 3: layer_types, linear rope on global layers", "GemmaTokenizer"),
    "phi3": Case("phi3", TinySpec(
        arch="Phi3ForCausalLM", tokenizer="phi3-spm", kv_heads=4, tied=True,
        config_extra={"original_max_position_embeddings": 256, "max_position_embeddings": 1024,
                      "partial_rotary_factor": 0.5, "rope_scaling": LONGROPE, "sliding_window": 262144}),
        "Phi-3.5/4-mini: fused qkv, longrope, partial rotary", "LlamaTokenizer"),
    "smollm3": Case("smollm3", TinySpec(
        arch="SmolLM3ForCausalLM", tokenizer="llama3", tied=True, layers=4, dtype="BF16",
        config_extra={"no_rope_layers": [1, 1, 1, 0], "no_rope_layer_interval": 4, "rope_theta": 5000000.0}),
        "SmolLM3: every 4th layer rope-less", "PreTrainedTokenizerFast"),
}
DEMO = Case("demo", None, "SmolLM2-135M-Instruct, rebuilt by `edgeprof convert demo`")


# ---- the differences that are expected and right ------------------------------------------------

@dataclass(frozen=True)
class Known:
    section: str  # "tensor", "metadata" or "tokenizer"
    pattern: str  # regex matched against the tensor name or key
    kind: str  # "only edgeprof", "only llama.cpp", "value", "type" (GGUF value type) or "bytes" (tensors)
    why: str
    check: Callable[[object, object, Context], bool] | None = None  # (ours, theirs, ctx): the reason holds
    cases: tuple[str, ...] = ()  # only these checkpoints; () for all


@dataclass(frozen=True)
class Context:
    case: Case
    ours: dict  # every metadata field of edgeprof's file
    theirs: dict  # and of the reference's
    config: dict  # the checkpoint's config.json
    folder: Path  # the checkpoint


def _arch(ctx: Context) -> str:
    return ctx.ours["general.architecture"]


def _default_head_dim(ctx: Context) -> int:
    """llama.cpp's head size when no key gives it: embedding_length / head_count."""
    a = _arch(ctx)
    return ctx.ours[f"{a}.embedding_length"] // ctx.ours[f"{a}.attention.head_count"]


def _rel_diff(a, b) -> float:
    x, y = _floats(a).astype(np.float64), _floats(b).astype(np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-30)))


def _only_looks_special_typed(ours, theirs, ctx: Context) -> bool:
    """Every differing token type: edgeprof control, reference user-defined, on a token that looks
    special (<|...|>) and is not marked special in tokenizer_config.json."""
    if len(ours) != len(theirs):
        return False
    tokens = ctx.ours["tokenizer.ggml.tokens"]
    config = json.loads((ctx.folder / "tokenizer_config.json").read_text())
    added = config.get("added_tokens_decoder") or {}
    differ = [i for i, (x, y) in enumerate(zip(ours, theirs, strict=True)) if x != y]
    return all(ours[i] == 3 and theirs[i] == 4 and tokens[i].startswith("<|") and tokens[i].endswith("|>")
               and added.get(str(i), {}).get("special") is False for i in differ)


def _title(name: str) -> str:
    return re.sub(r"[-_ ]+", " ", name).strip().lower()


KNOWN_DIFFERENCES: list[Known] = [
    # -- keys only edgeprof writes --
    Known("metadata", r"edgeprof\.source_sha256", "only edgeprof",
          "edgeprof's provenance: the sha256 of the source files, so a rerun reuses a finished file"),
    Known("metadata", r"\w+\.vocab_size", "only edgeprof",
          "config.json's vocab_size, equal to the token list's length; llama.cpp takes that length when "
          "the key is missing (its converter writes the key for the Llama family only)",
          lambda ours, theirs, ctx: ours == len(ctx.ours["tokenizer.ggml.tokens"])),
    Known("metadata", r"\w+\.rope\.dimension_count", "only edgeprof",
          "the head size, which is llama.cpp's default for rotated dimensions (n_rot = key_length); its "
          "converter writes the key only for some architectures",
          lambda ours, theirs, ctx: ours == ctx.theirs.get(f"{_arch(ctx)}.attention.key_length",
                                                           _default_head_dim(ctx))),
    Known("metadata", r"gemma2\.rope\.freq_base", "only edgeprof",
          "config.json's rope_theta, 10000, which is also llama.cpp's default base",
          lambda ours, theirs, ctx: ours == 10000.0),
    Known("metadata", r"phi3\.rope\.scaling\.type", "only edgeprof",
          "the source's rope_type (longrope); llama.cpp's Phi-3 graph picks rope_factors_long/short by context "
          "length whatever this says, and with no scaling factor written the type changes nothing else "
          "(frequency scale 1, no YaRN)",
          lambda ours, theirs, ctx: ours == "longrope" and f"{_arch(ctx)}.rope.scaling.factor" not in ctx.ours),
    Known("metadata", r"gemma[23]\.attention\.sliding_window_pattern", "only edgeprof",
          "config.json's layer_types differ from llama.cpp's built-in pattern (Gemma 3: every 6th layer global), "
          "so edgeprof writes the per-layer pattern; without it llama.cpp would slide on layers the config "
          "says are global (llama.cpp's converter ignores layer_types; real Gemma 3 configs follow the "
          "built-in pattern, so they are unaffected)",
          lambda ours, theirs, ctx: ours == [t == "sliding_attention" for t in ctx.config.get("layer_types") or []]),
    # -- keys only llama.cpp's converter writes --
    Known("metadata", r"\w+\.attention\.(key|value)_length", "only llama.cpp",
          "the head size is embedding_length / head_count, llama.cpp's default when the key is missing; "
          "edgeprof writes it only when head_dim differs",
          lambda ours, theirs, ctx: theirs == _default_head_dim(ctx)),
    # -- values --
    Known("metadata", r"general\.name", "value",
          "the display name: edgeprof writes the name the files are named by (--name, default from SOURCE); "
          "llama.cpp's converter makes a title from the folder name (--model-name sets it)",
          lambda ours, theirs, ctx: _title(ours) == _title(theirs)),
    Known("tensor", r"rope_freqs\.weight", "bytes",
          "Llama 3 rope scaling factors: edgeprof computes them in float64 and rounds once (measured: the "
          "correctly rounded values); llama.cpp's converter computes in float32 (torch), so the factors of "
          "the blended band differ by 1-3 ulp (the check allows a relative 1e-5)",
          lambda ours, theirs, ctx: _rel_diff(ours, theirs) < 1e-5),
    Known("tokenizer", r"tokenizer\.ggml\.token_type", "value",
          "an added token that looks special (<|...|>) but is not marked special: edgeprof types it control, "
          "as llama.cpp's converter does for Llama, Mistral and Gemma SentencePiece models; its Phi-3 class "
          "has vocabulary code of its own that skips that rule and makes it user-defined (tests/tiny.py's "
          "Phi-3 tokenizer has one such token on purpose)",
          _only_looks_special_typed, cases=("phi3",)),
]


def explain(section: str, item: str, kind: str, ours, theirs, ctx: Context) -> str | None:
    for known in KNOWN_DIFFERENCES:
        if known.section == section and known.kind == kind and re.fullmatch(known.pattern, item) \
                and (not known.cases or ctx.case.name in known.cases) \
                and (known.check is None or known.check(ours, theirs, ctx)):
            return known.why
    return None


# ---- running the converters --------------------------------------------------------------------

@dataclass
class Run:
    wall_s: float = 0.0
    rss_mb: float = 0.0  # peak resident set of the converting process (VmHWM)
    anon_mb: float = 0.0  # peak private memory (RssAnon)
    error: str = ""
    log: str = ""


def run_measured(cmd: list[str], env: dict[str, str] | None, log_path: Path) -> Run:
    """Run ``cmd``, its output to ``log_path``; wall time and memory peaks polled from /proc every 10 ms.

    Not getrusage/wait4: Linux carries the RSS high-water mark of the process that forked the child
    across exec, so ru_maxrss would count this script's own size (hundreds of MB once it has read
    two big token lists). VmHWM is the exec'd program's own high-water mark, so a sample misses
    nothing but the last few milliseconds; RssAnon is sampled as it is."""
    peak = {"VmHWM": 0, "RssAnon": 0}
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                try:
                    with open(f"/proc/{proc.pid}/status") as f:
                        for line in f:
                            key, _, value = line.partition(":")
                            if key in peak and value.split():
                                peak[key] = max(peak[key], int(value.split()[0]))
                except OSError:
                    return
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    text = log_path.read_text(errors="replace")
    error = "" if proc.returncode == 0 else f"exit {proc.returncode}: " + text.strip()[-1500:]
    return Run(wall, peak["VmHWM"] / 1024, peak["RssAnon"] / 1024, error, text)


def convert_edgeprof(folder: Path, name: str, outtype: str, out: Path, log: Path) -> tuple[Path, Run]:
    """`edgeprof convert` as a user runs it the first time: a fresh output folder (nothing to reuse)
    and an empty edgeprof cache, so the source files are hashed as on a first conversion."""
    cmd = [sys.executable, "-m", "edgeprof", "convert", str(folder), "--outtype", outtype, "--out", str(out),
           "--name", name, "--no-progress"]
    cache = out.with_name(out.name + "-cache")
    for path in (out, cache):
        shutil.rmtree(path, ignore_errors=True)
    return out / f"{name}-{outtype.upper()}.gguf", run_measured(cmd, {**os.environ, "EDGEPROF_CACHE": str(cache)}, log)


def convert_reference(folder: Path, case: Case, outtype: str, out: Path, llama_cpp: Path,
                      log: Path) -> tuple[Path, Run]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    dest = out / f"reference-{outtype.upper()}.gguf"
    cmd, env = reference_command(folder, outtype, dest, llama_cpp, case.pre)
    return dest, run_measured(cmd, env, log)


def median_run(runs: list[Run]) -> Run:
    return Run(statistics.median(r.wall_s for r in runs), max(r.rss_mb for r in runs),
               max(r.anon_mb for r in runs), next((r.error for r in runs if r.error), ""), runs[-1].log)


# ---- comparing the files -----------------------------------------------------------------------

@dataclass
class Difference:
    section: str
    item: str
    kind: str  # "only edgeprof", "only llama.cpp", "value" (type/shape for tensors), "bytes" (tensors)
    ours: object
    theirs: object
    why: str | None


@dataclass
class Comparison:
    tensors_equal: int = 0
    tensors_total: int = 0
    keys_equal: int = 0
    keys_total: int = 0
    tokenizer_equal: int = 0
    tokenizer_total: int = 0
    differences: list[Difference] = field(default_factory=list)

    def unexplained(self) -> list[Difference]:
        return [d for d in self.differences if d.why is None]


def read_gguf(path: Path):
    from gguf import GGUFReader

    reader = GGUFReader(path)
    keys = [name for name in reader.fields if not name.startswith("GGUF.")]
    fields = {name: reader.fields[name].contents() for name in keys}
    # the GGUF value type (llama.cpp refuses a key of another type than it reads, e.g. INT32 for UINT32)
    types = {name: "/".join(t.name for t in reader.fields[name].types) for name in keys}
    return fields, types, {t.name: t for t in reader.tensors}


def _floats(t) -> np.ndarray:
    raw = np.asarray(t.data)
    kind = t.tensor_type.name
    if kind == "BF16":
        return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32)


def _tensor_detail(a, b) -> str:
    """What kind of difference two same-shape tensors have, for the report."""
    x, y = _floats(a).reshape(-1), _floats(b).reshape(-1)
    if x.shape != y.shape:
        return f"{x.size} vs {y.size} values"
    differ = x != y
    both_nan = np.isnan(x) & np.isnan(y)
    differ &= ~both_nan
    detail = f"{int(differ.sum())}/{x.size} values differ, max |diff| {float(np.max(np.abs(x - y)[differ])):.3g}"
    rows_a = np.asarray(a.data).reshape(int(a.shape[-1]) if len(a.shape) > 1 else 1, -1)
    rows_b = np.asarray(b.data).reshape(rows_a.shape)
    if rows_a.shape[0] > 1 and np.array_equal(np.sort(rows_a.view(np.uint8), axis=0), np.sort(rows_b.view(np.uint8),
                                                                                               axis=0)):
        detail += " (same values per column, rows in another order: a permutation?)"
    return detail


def compare_tensors(ours: dict, theirs: dict, ctx: Context, cmp: Comparison) -> None:
    for name in sorted(set(ours) | set(theirs), key=_tensor_order):
        cmp.tensors_total += 1
        if name not in theirs or name not in ours:
            kind = "only edgeprof" if name in ours else "only llama.cpp"
            t = ours.get(name) or theirs.get(name)
            desc = f"{t.tensor_type.name} {list(map(int, t.shape))}"
            cmp.differences.append(Difference("tensor", name, kind, desc if name in ours else None,
                                              desc if name in theirs else None,
                                              explain("tensor", name, kind, ours.get(name), theirs.get(name), ctx)))
            continue
        a, b = ours[name], theirs[name]
        sa, sb = list(map(int, a.shape)), list(map(int, b.shape))
        if sa != sb or a.tensor_type != b.tensor_type:
            cmp.differences.append(Difference("tensor", name, "value", f"{a.tensor_type.name} {sa}",
                                              f"{b.tensor_type.name} {sb}",
                                              explain("tensor", name, "value", a, b, ctx)))
        elif np.array_equal(np.asarray(a.data).view(np.uint8), np.asarray(b.data).view(np.uint8)):
            cmp.tensors_equal += 1
        else:
            cmp.differences.append(Difference("tensor", name, "bytes", f"{a.tensor_type.name} {sa}",
                                              _tensor_detail(a, b), explain("tensor", name, "bytes", a, b, ctx)))


def _tensor_order(name: str) -> tuple:
    parts = name.split(".")
    return (0, int(parts[1]), name) if parts[0] == "blk" else (1 if name != "token_embd.weight" else -1, 0, name)


def _same(x, y) -> bool:
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (x != x and y != y)
    return type(x) is type(y) and x == y


def _short(value, limit: int = 48) -> str:
    if isinstance(value, list):
        return f"[{len(value)} items]"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _list_detail(x: list, y: list) -> tuple[str, str]:
    """Where two lists part: their lengths and the first differing entry."""
    n = min(len(x), len(y))
    first = next((i for i in range(n) if not _same(x[i], y[i])), n)
    count = sum(1 for i in range(n) if not _same(x[i], y[i])) + abs(len(x) - len(y))
    if first == n:
        return f"{len(x)} items", f"{len(y)} items (the first {n} equal)"
    return (f"{len(x)} items, {count} differ; [{first}]={_short(x[first], 30)}",
            f"{len(y)} items; [{first}]={_short(y[first], 30)}")


def compare_fields(ours: dict, theirs: dict, types: tuple[dict, dict], ctx: Context, cmp: Comparison) -> None:
    for key in sorted(set(ours) | set(theirs)):
        section = "tokenizer" if key.startswith("tokenizer.") else "metadata"
        if section == "tokenizer":
            cmp.tokenizer_total += 1
        else:
            cmp.keys_total += 1
        if key not in ours or key not in theirs:
            kind = "only edgeprof" if key in ours else "only llama.cpp"
            a, b = ours.get(key), theirs.get(key)
            cmp.differences.append(Difference(section, key, kind, None if a is None else _short(a),
                                              None if b is None else _short(b), explain(section, key, kind, a, b, ctx)))
        elif types[0][key] != types[1][key]:
            a, b = f"{types[0][key]} {_short(ours[key])}", f"{types[1][key]} {_short(theirs[key])}"
            cmp.differences.append(Difference(section, key, "type", a, b, explain(section, key, "type", a, b, ctx)))
        elif _same(ours[key], theirs[key]):
            if section == "tokenizer":
                cmp.tokenizer_equal += 1
            else:
                cmp.keys_equal += 1
        else:
            a, b = ours[key], theirs[key]
            shown = _list_detail(a, b) if isinstance(a, list) and isinstance(b, list) else (_short(a), _short(b))
            cmp.differences.append(Difference(section, key, "value", *shown, explain(section, key, "value", a, b, ctx)))


def compare(ours: Path, theirs: Path, case: Case, folder: Path) -> Comparison:
    cmp = Comparison()
    fields_a, types_a, tensors_a = read_gguf(ours)
    fields_b, types_b, tensors_b = read_gguf(theirs)
    ctx = Context(case, fields_a, fields_b, json.loads((folder / "config.json").read_text()), folder)
    compare_tensors(tensors_a, tensors_b, ctx, cmp)
    compare_fields(fields_a, fields_b, (types_a, types_b), ctx, cmp)
    return cmp


# ---- the report --------------------------------------------------------------------------------

def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def print_case(title: str, ours: Run, theirs: Run, cmp: Comparison | None, fallback: bool) -> None:
    print(f"\n== {title} ==")
    print(table([["edgeprof", f"{ours.wall_s:.2f}", f"{ours.rss_mb:.0f}", f"{ours.anon_mb:.0f}"],
                 ["llama.cpp", f"{theirs.wall_s:.2f}", f"{theirs.rss_mb:.0f}", f"{theirs.anon_mb:.0f}"]],
                ["converter", "time s", "peak RSS MB", "peak private MB"]))
    for who, run in (("edgeprof", ours), ("llama.cpp", theirs)):
        if run.error:
            print(f"  {who} FAILED: {run.error}")
    if cmp is None:
        return
    print(f"tensors bit-equal: {cmp.tensors_equal}/{cmp.tensors_total}; metadata keys equal: "
          f"{cmp.keys_equal}/{cmp.keys_total}; tokenizer keys equal: {cmp.tokenizer_equal}/{cmp.tokenizer_total}")
    if fallback:
        print("  note: tokenizer.ggml.pre is not in llama.cpp's hash table of published tokenizers (a tiny "
              "tokenizer trained here); the reference was given the pre-tokenizer the checkpoint was built with")
    for d in cmp.differences:
        if d.kind == "bytes":
            print(f"  tensor {d.item}: both {d.ours}, bytes differ: {d.theirs}")
        else:
            print(f"  {d.section} {d.item} ({d.kind}): edgeprof {d.ours}; llama.cpp {d.theirs}")
        print(textwrap.fill(f"why: {d.why}" if d.why else "UNEXPLAINED", 110, initial_indent=" " * 6,
                            subsequent_indent=" " * 11))


def summary_row(case: Case, outtype: str, ours: Run, theirs: Run, cmp: Comparison | None) -> list[str]:
    if cmp is None:
        return [case.name, outtype, "failed", "", "", f"{ours.wall_s:.1f} / {theirs.wall_s:.1f}",
                f"{ours.rss_mb:.0f} / {theirs.rss_mb:.0f}"]
    meta = [d for d in cmp.differences if d.section == "metadata"]
    tok = [d for d in cmp.differences if d.section == "tokenizer"]
    tensors = [d for d in cmp.differences if d.section == "tensor"]
    bad = lambda ds: sum(1 for d in ds if d.why is None)  # noqa: E731
    return [case.name, outtype.upper(), f"{cmp.tensors_equal}/{cmp.tensors_total}"
            + (f" ({len(tensors) - bad(tensors)} explained)" if len(tensors) > bad(tensors) else ""),
            f"{cmp.keys_equal} equal, {len(meta)} differ" + (f" ({bad(meta)} unexplained)" if bad(meta) else ""),
            "equal" if not tok else f"{len(tok)} differ" + (f" ({bad(tok)} unexplained)" if bad(tok) else ""),
            f"{ours.wall_s:.1f} / {theirs.wall_s:.1f}", f"{ours.rss_mb:.0f} / {theirs.rss_mb:.0f}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="the embedded demo checkpoint (SmolLM2-135M-Instruct)")
    parser.add_argument("--arch", default="", help=f"all, or some of {','.join(CASES)} (comma-separated)")
    parser.add_argument("--outtype", default="f16,bf16", help="comma-separated: f16, bf16, f32 (default f16,bf16)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per converter; the median time is shown")
    parser.add_argument("--keep", type=Path, help="keep checkpoints, GGUF files and logs in this folder")
    parser.add_argument("--llama-cpp", type=Path, help="a llama.cpp tree with convert_hf_to_gguf.py "
                        "(default: the one llama-cpp-python's sdist vendors)")
    args = parser.parse_args()
    names = list(CASES) if args.arch == "all" else [n for n in args.arch.split(",") if n]
    unknown = [n for n in names if n not in CASES]
    if unknown or not (names or args.demo):
        parser.error(f"say --demo and/or --arch all|{','.join(CASES)}" + (f" (unknown: {unknown})" if unknown else ""))
    cases = ([DEMO] if args.demo else []) + [CASES[n] for n in names]
    outtypes = [t.strip().lower() for t in args.outtype.split(",") if t.strip()]

    llama_cpp = llama_cpp_dir(args.llama_cpp)
    work = args.keep or Path(tempfile.mkdtemp(prefix="convert-vs-reference-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"reference: {llama_cpp / 'convert_hf_to_gguf.py'}")
    print(f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}; work folder {work}")
    rows, status = [], 0
    try:
        for case in cases:
            folder, name = checkpoint(case, work)
            for outtype in outtypes:
                out = work / "out" / case.name / outtype
                out.mkdir(parents=True, exist_ok=True)
                ours_runs, theirs_runs, ours_path, theirs_path = [], [], None, None
                for i in range(args.repeat):  # alternately, so both see the same machine state
                    ours_path, run = convert_edgeprof(folder, name, outtype, out / "edgeprof",
                                                      out / f"edgeprof-{i}.log")
                    ours_runs.append(run)
                    theirs_path, run = convert_reference(folder, case, outtype, out / "llama.cpp", llama_cpp,
                                                         out / f"llama.cpp-{i}.log")
                    theirs_runs.append(run)
                ours, theirs = median_run(ours_runs), median_run(theirs_runs)
                cmp = None if ours.error or theirs.error else compare(ours_path, theirs_path, case, folder)
                title = f"{case.name}: {case.arch}, {case.note} -> {outtype.upper()}"
                print_case(title, ours, theirs, cmp, FALLBACK_MARK in theirs.log)
                rows.append(summary_row(case, outtype, ours, theirs, cmp))
                if cmp is None:
                    status = 2
                elif cmp.unexplained() and status == 0:
                    status = 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + table(rows, ["checkpoint", "out", "tensors bit-equal", "metadata keys", "tokenizer",
                               "time s (edgeprof / llama.cpp)", "peak RSS MB (edgeprof / llama.cpp)"]))
    verdict = {0: "every difference is expected and explained",
               1: "UNEXPLAINED differences (see the tables above)", 2: "a converter failed"}[status]
    print(f"\n{verdict}")
    return status


def checkpoint(case: Case, work: Path) -> tuple[Path, str]:
    """The HF folder both converters read, and the model name edgeprof is given."""
    if case.spec is None:
        from edgeprof.quantize.demo import DEMO_NAME, ensure_demo_checkpoint

        return ensure_demo_checkpoint(progress=False), DEMO_NAME
    folder = work / "checkpoints" / case.name
    if not (folder / "config.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        build_checkpoint(folder, case.spec)
        if case.tokenizer_class:  # transformers (so the reference) picks its tokenizer class by it
            config = json.loads((folder / "tokenizer_config.json").read_text())
            config["tokenizer_class"] = case.tokenizer_class
            (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder, case.name


if __name__ == "__main__":
    sys.exit(main())
