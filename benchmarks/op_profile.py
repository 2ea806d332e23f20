"""Where decode time goes, per graph node: llama.cpp's eval callback timestamps every node.

With an eval callback set, llama.cpp's scheduler computes the graph node by node and calls back
after each; the time between two calls is that node's compute (plus the same small callback cost
for every node, so compare files, not absolute numbers). Nodes are summed by (op, tensor name
without the layer suffix) and printed per decoded token, for one file or side by side for two.

    python benchmarks/op_profile.py real.gguf synthetic.gguf --threads 1 --tokens 64
    python benchmarks/op_profile.py model.gguf --no-mmap
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import json
import subprocess
import sys
import time


def profile(path: str, threads: int, n_tokens: int, mmap: bool) -> dict[str, float]:
    """Microseconds per decoded token for each (op, tensor) group, after a 16-token random prompt."""
    import llama_cpp
    import numpy as np

    from edgeprof import llamacpp

    llamacpp.init()
    lib = llamacpp.ggml()
    lib.ggml_op_desc.restype, lib.ggml_op_desc.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    lib.ggml_get_name.restype, lib.ggml_get_name.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    totals: dict[str, int] = collections.defaultdict(int)
    state = {"last": 0, "on": False}

    @llama_cpp.ggml_backend_sched_eval_callback
    def after_node(tensor, ask, _user):
        if not ask and state["on"]:
            now = time.perf_counter_ns()
            group = f"{lib.ggml_op_desc(tensor).decode()} {lib.ggml_get_name(tensor).decode().split('-')[0]}"
            totals[group] += now - state["last"]
            state["last"] = time.perf_counter_ns()
        return True

    params = llama_cpp.llama_model_default_params()
    params.use_mmap = mmap
    model = llama_cpp.llama_model_load_from_file(path.encode(), params)
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx, cparams.n_threads, cparams.n_threads_batch = 512, threads, threads
    cparams.cb_eval = after_node
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    batch = llama_cpp.llama_batch_init(64, 0, 1)

    def decode(tokens: list[int], pos: int) -> None:
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos + i, 1
            batch.seq_id[i][0], batch.logits[i] = 0, i == len(tokens) - 1
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise SystemExit(f"{path}: llama_decode failed")

    vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    decode(np.random.default_rng(42).integers(0, vocab, 16).tolist(), 0)
    state["on"] = True
    for i in range(n_tokens):  # the same token every step: only the model's own values differ
        state["last"] = time.perf_counter_ns()
        decode([1], 16 + i)
    return {group: ns / n_tokens / 1e3 for group, ns in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="one or two GGUF files")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--no-mmap", action="store_true", help="load into anonymous memory (no page-cache effects)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: profile this file, print JSON
    a = parser.parse_args()
    if a.one:
        print(json.dumps(profile(a.one, a.threads, a.tokens, not a.no_mmap)))
        return
    runs = []
    for path in a.models:  # each in its own process: nothing shared between the files
        cmd = [sys.executable, __file__, "x", "--one", path, "--threads", str(a.threads), "--tokens", str(a.tokens)]
        runs.append(json.loads(subprocess.run(cmd + (["--no-mmap"] if a.no_mmap else []), check=True,
                                              capture_output=True, text=True).stdout))
    groups = sorted(set().union(*runs), key=lambda g: -runs[0].get(g, 0))
    print(f"{'op and tensor':32}" + "".join(f"{p[-28:]:>30}" for p in a.models)
          + ("    ratio" if len(runs) == 2 else ""))
    for group in groups[:16] + ["total"]:
        values = [sum(r.values()) if group == "total" else r.get(group, 0.0) for r in runs]
        ratio = f"{values[1] / values[0]:9.3f}" if len(runs) == 2 and values[0] else ""
        print(f"{group:32}" + "".join(f"{v:27.1f} us" for v in values) + ratio)


if __name__ == "__main__":
    main()
