"""Run a sweep: load models and contexts, measure each cell under the resource monitor, store rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from edgeprof.bench import memory
from edgeprof.bench.bandwidth import probe_gbs, roofline
from edgeprof.bench.cold_load import drop_from_page_cache
from edgeprof.bench.engine import Context, ContextSettings, Model
from edgeprof.bench.idle import idle_watts, net_j_per_token
from edgeprof.bench.measure import Deadline, measure, random_prompt
from edgeprof.bench.overheads import host_share_visible, overheads_for, remember
from edgeprof.bench.peak_rss import peak_rss_fields
from edgeprof.bench.peak_rss import peak_rss_mb as _peak_rss_mb
from edgeprof.bench.peak_rss import reset_peak_rss as _reset_peak_rss
from edgeprof.bench.resources import Monitor, available_sensors
from edgeprof.bench.resources.summary import summarize as summarize_resources
from edgeprof.bench.resources.summary import summarize_with_gaps, timeline
from edgeprof.bench.resources.thermal import cell_thermal, hottest_now, wait_until_cool
from edgeprof.bench.startup import first_request, timed_context
from edgeprof.bench.stats import summarize as summarize_timings
from edgeprof.bench.sustain import run_sustained, steady_state, windows_with_sensors
from edgeprof.bench.sweep import Cell, Load, SweepSpec, groups, plan, settings_of
from edgeprof.bench.system import system_info
from edgeprof.errors import EdgeprofError, fail
from edgeprof.gguf_header import GGUFHeader
from edgeprof.results.rows import failed_row, speed_row, sustain_row
from edgeprof.results.store import ResultStore, cell_key

OnRow = Callable[[dict], None]


def _cell_key(settings: dict, info: dict, system: dict, prompt: str) -> str:
    return cell_key({"sha256": info["sha256"], "settings": settings, "device": system["device_id"],
                     "prompt": prompt}, system["device_name"])


def _prompt_sha256(spec: SweepSpec) -> dict[str, str]:
    """The prompt text's content hash, for rows and cell keys (a prompt file is its content, not its
    name); nothing for random tokens."""
    import hashlib

    return {} if spec.prompt_text is None else {"prompt_sha256": hashlib.sha256(spec.prompt_text.encode()).hexdigest()}


@dataclass
class _Sweep:
    """What every cell of one sweep shares."""
    spec: SweepSpec
    store: ResultStore
    on_row: OnRow
    system: dict
    sensors: list
    overheads: memory.Overheads | None = None  # the GPU backend's own memory; None: nothing offloads here
    unified: bool = False  # the GPU allocates from system RAM (Jetson, Apple silicon)
    bandwidth_gbs: float | None = None  # RAM read bandwidth, probed once per sweep (roofline of CPU decode)
    gpu_bandwidth_gbs: float | None = None  # the GPU's (device-to-device copy), where every layer is offloaded
    idle_w: dict[str, float] = field(default_factory=dict)  # each energy source's idle draw, read once per sweep

    @cached_property  # hashed once per sweep, not once per cell key
    def prompt_sha256(self) -> dict[str, str]:
        return _prompt_sha256(self.spec)

    def key(self, cell: Cell, info: dict, settings: dict | None = None) -> str:
        """The cell's key; ``settings`` replaces the cell's own (a sustained run's)."""
        prompt = self.prompt_sha256.get("prompt_sha256")
        return _cell_key(settings_of(cell) if settings is None else settings, info, self.system,
                         f"sha256:{prompt}" if prompt else self.spec.prompt_label)

    def record(self, row: dict) -> None:
        self.store.append(row)
        self.on_row(row)

    def fail(self, cells: list[Cell], info: dict, error: str) -> None:
        for cell in cells:
            self.record(failed_row("speed", self.key(cell, info), info, settings_of(cell), self.system, error))


@dataclass
class _Loaded:
    """One loaded model and what was measured around its loading."""
    model: Model
    info: dict
    estimate: memory.Estimate
    baseline_rss_mb: float
    load_resources: dict
    baseline_gpu_mb: float | None = None  # the device's used memory before this model was loaded
    baseline_system_mb: float | None = None  # the system RAM in use before this model was loaded
    header: GGUFHeader | None = None
    host_share_visible: bool = False  # the GPU backend started with this load (its host memory shows in RSS)
    learned: bool = False  # the backend overheads were measured from this model's first cell
    page_cache: dict | None = None  # --cold: what dropping the file from the page cache did
    cold_start: dict | None = None  # --cold: load + context + first request, timed


def sweep_models(spec: SweepSpec, store: ResultStore, on_row: OnRow, on_skip: Callable[[Cell], None]) -> None:
    sensors = available_sensors(list(spec.sensors) if spec.sensors is not None else None)
    if spec.cooldown_c is not None and hottest_now(sensors) is None:
        raise fail("no_temperature", sensors=", ".join(s.name for s in sensors) or "none")
    system = system_info(spec.device_name, [m.path for m in spec.models])
    sweep = _Sweep(spec, store, on_row, system, sensors, overheads_for(system), memory.unified_memory(system))
    done = set() if spec.rerun else store.completed()
    every_cell = plan(spec)
    to_measure = [c for c in every_cell if sweep.key(c, c.model.info) not in done]  # each key made once
    _probe(sweep, to_measure)
    measuring = {id(c) for c in to_measure}
    for load, contexts in groups(every_cell):
        model_file = load.model
        todo = []
        for settings, cells in contexts:
            pending = [c for c in cells if id(c) in measuring]
            for cell in cells:
                if id(cell) not in measuring:
                    on_skip(cell)
            sustain = spec.sustain_s is not None and sweep.key(cells[0], model_file.info, _sustain_settings(
                spec, cells[0])) not in done
            if pending or sustain:
                todo.append(_Todo(settings, cells[0], pending, sustain))
        if todo and spec.force and not spec.in_child:
            _run_model_in_child(sweep, load, todo)
        elif todo:
            _run_model(sweep, load, todo)


def _probe(sweep: _Sweep, pending: list[Cell]) -> None:
    """What the cells still to measure compare with, read once: the memory bandwidth their decode reads
    (RAM ~0.3 s; a GPU's, where every layer is offloaded) and the idle power draw. A resumed sweep with
    nothing left to measure probes nothing."""
    if any(c.n_gpu_layers == 0 or sweep.unified for c in pending):
        sweep.bandwidth_gbs = probe_gbs(max(sweep.spec.threads))
    if not sweep.unified and any(c.n_gpu_layers == -1 for c in pending) and sweep.overheads is not None:
        from edgeprof.bench.gpu_bandwidth import probe_gpu_gbs

        sweep.gpu_bandwidth_gbs = probe_gpu_gbs()
    if pending:
        sweep.idle_w = idle_watts(sweep.sensors, sweep.spec.idle_s, sweep.spec.sensor_interval)


@dataclass
class _Todo:
    """One context's work: the cells still to measure, and whether its sustained run is."""
    settings: ContextSettings
    first: Cell  # the context's first cell (its prompt length and settings start a sustained run)
    cells: list[Cell]
    sustain: bool


def _sustain_settings(spec: SweepSpec, cell: Cell) -> dict:
    settings = {**settings_of(cell), "sustain_s": spec.sustain_s, "sustain_window_s": spec.sustain_window_s}
    for key in ("n_gen", "repetitions", "warmup", "n_depth", "pg"):  # it decodes for a time, not a count
        settings.pop(key, None)
    return settings


def _run_model_in_child(sweep: _Sweep, load: Load, contexts: list[_Todo]) -> None:
    """--force skips the guard, so memory may run out: then the kernel's OOM killer sends SIGKILL, or
    a failed allocation aborts llama.cpp. Either would end edgeprof itself with nothing said. So the
    model is measured in a child process (same code, same store); when it dies, the cells it did not
    record are recorded as failed with how it died, and the sweep goes on. The child never outlives
    this process: interrupted (Ctrl-C, SIGTERM, SIGHUP), this process stops it; killed, the child ends."""
    import multiprocessing
    import os

    from edgeprof.processes import stop

    model_file = load.model
    start = sweep.store.size()
    spec = replace(sweep.spec, models=(model_file,), n_gpu_layers=(load.n_gpu_layers,), load_mode=(load.load_mode,),
                   in_child=True)
    child = multiprocessing.get_context("spawn").Process(target=_child_sweep,
                                                         args=(spec, sweep.store.folder, os.getpid()))
    child.start()
    try:
        child.join()
    except BaseException:
        stop(child)
        for row in sweep.store.rows(since=start):  # what it recorded is saved: counted as this sweep's
            sweep.on_row(row)
        raise
    recorded = set()
    for row in sweep.store.rows(since=start):
        recorded.add(row.get("cell"))
        sweep.on_row(row)
    if child.exitcode != 0:
        lost = [c for todo in contexts for c in todo.cells if sweep.key(c, model_file.info) not in recorded]
        sweep.fail(lost, model_file.info,
                   str(fail("child_died", path=model_file.path, how=_how_it_died(child.exitcode))))


def _child_sweep(spec: SweepSpec, folder: Path, parent: int) -> None:
    import signal

    from edgeprof import llamacpp
    from edgeprof.processes import die_with_parent, orphaned

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches both; the parent stops this one
    die_with_parent(parent)

    def between_cells(_) -> None:  # where the parent's death sends no signal (not Linux): stop at the next cell
        if orphaned(parent):
            raise SystemExit(1)

    llamacpp.init()
    sweep_models(spec, ResultStore(folder), between_cells, between_cells)


def _how_it_died(exitcode: int) -> str:
    import signal

    if exitcode >= 0:
        return f"it exited with code {exitcode}"
    name = signal.Signals(-exitcode).name
    hints = {"SIGKILL": " (what the kernel's out-of-memory killer sends when memory runs out)",
             "SIGABRT": " (llama.cpp aborted: often an allocation that failed)", "SIGSEGV": " (a crash in native code)"}
    return f"it was killed by {name}{hints.get(name, '')}"


def _run_model(sweep: _Sweep, load: Load, contexts: list[_Todo]) -> None:
    model_file = load.model
    path, info = model_file.path, model_file.info
    every_cell = [c for todo in contexts for c in todo.cells]
    first = contexts[0].settings
    est = memory.estimate(model_file.header, first.n_ctx, first.n_ubatch, load.n_gpu_layers, first.type_k,
                          first.type_v, first.flash_attn, sweep.overheads, sweep.unified)
    try:  # a model that will not fit is refused before loading: its cells fail, the other models go on
        memory.check_fits(path, est, gpu_offload=est.vram_mb > 0, force=sweep.spec.force)
    except EdgeprofError as exc:
        sweep.fail(every_cell, info, str(exc))
        return
    baseline = _current_rss_mb()
    baseline_gpu = _gpu_used_mb(sweep.sensors)
    baseline_system = _system_used_mb()
    page_cache = drop_from_page_cache(path) if load.cold else None
    _reset_peak_rss()
    try:
        with Monitor(sweep.sensors, sweep.spec.sensor_interval) as monitor:
            monitor.mark("load")
            model = Model(model_file, load.n_gpu_layers, load.load_mode)
    except EdgeprofError as exc:  # the model would not load: its cells fail, the sweep goes on
        sweep.fail(every_cell, info, str(exc))
        return
    loaded = _Loaded(model, info, est, baseline, summarize_resources(monitor.readings).get("load", {}),
                     baseline_gpu_mb=baseline_gpu, baseline_system_mb=baseline_system,
                     host_share_visible=host_share_visible(), header=model_file.header, page_cache=page_cache)
    with model:
        for todo in contexts:
            try:
                _run_context(sweep, loaded, todo)
            except EdgeprofError as exc:  # the context could not be made: its cells fail, the rest go on
                sweep.fail(todo.cells, info, str(exc))


def _run_context(sweep: _Sweep, loaded: _Loaded, todo: _Todo) -> None:
    ctx, context_s = timed_context(loaded.model, todo.settings)
    with ctx:
        if loaded.page_cache is not None and loaded.cold_start is None:  # the first request after the cold load
            loaded.cold_start = first_request(loaded.model, ctx, todo.first.workload.n_prompt, sweep.spec.seed,
                                              context_s, loaded.page_cache)
        prompt, tokenize_ms = _prompt(loaded.model, sweep.spec, todo.first.workload.n_prompt)
        for cell in todo.cells:
            _run_cell(sweep, loaded, ctx, cell, prompt, tokenize_ms)
        if todo.sustain:
            _run_sustained(sweep, loaded, ctx, todo.first, prompt)


def _run_sustained(sweep: _Sweep, loaded: _Loaded, ctx: Context, cell: Cell, prompt) -> None:
    spec = sweep.spec
    settings = _sustain_settings(spec, cell)
    key = sweep.key(cell, loaded.info, settings)
    tokens = prompt or random_prompt(max(cell.workload.n_prompt, 1), loaded.model.n_vocab, spec.seed)
    try:
        with Monitor(sweep.sensors, spec.sensor_interval) as monitor:
            rep, windows = run_sustained(ctx, tokens, spec.sustain_s, spec.sustain_window_s, monitor)
    except EdgeprofError as exc:
        sweep.record(failed_row("sustain", key, loaded.info, settings, sweep.system, str(exc)))
        return
    resources = summarize_resources(monitor.readings)
    table = windows_with_sensors(windows, monitor.readings)
    sweep.record(sustain_row(key, loaded.info, settings, sweep.system, windows=table,
                             steady=steady_state(table, sweep.idle_w), tokens=rep.tokens_generated,
                             decode_s=round(sum(rep.decode_ns) / 1e9, 3), thermal=cell_thermal(resources),
                             resources=resources))


def _prompt(model: Model, spec: SweepSpec, n_prompt: int) -> tuple[list[int] | None, float | None]:
    """The prompt's tokens and the milliseconds tokenization took (None for random tokens)."""
    if spec.prompt_text is None:
        return None, None
    text = spec.prompt_text
    if spec.chat:
        from edgeprof.bench.chat import apply_chat_template

        text = apply_chat_template(model, text)
    started = time.perf_counter_ns()
    tokens = model.tokenize(text, add_special=not spec.chat)
    return tokens[:n_prompt], (time.perf_counter_ns() - started) / 1e6


def _run_cell(sweep: _Sweep, loaded: _Loaded, ctx: Context, cell: Cell, prompt, tokenize_ms) -> None:
    spec = sweep.spec
    cooldown = wait_until_cool(sweep.sensors, spec.cooldown_c, spec.cooldown_timeout) if spec.cooldown_c else {}
    _reset_peak_rss()
    try:
        with Monitor(sweep.sensors, spec.sensor_interval) as monitor:
            deadline = Deadline(spec.cell_timeout) if spec.cell_timeout else None
            reps = measure(ctx, cell.workload, prompt, monitor, deadline)
    except EdgeprofError as exc:  # e.g. the cell's time limit: recorded as failed, the sweep goes on
        sweep.fail([cell], loaded.info, str(exc))
        return
    n_prompt = len(prompt) if prompt is not None else cell.workload.n_prompt
    phases, gaps = summarize_with_gaps(monitor.readings)
    resources = {"load": loaded.load_resources, **phases}
    settings = {**settings_of(cell), "n_prompt": n_prompt, "prompt": sweep.spec.prompt_label, **sweep.prompt_sha256}
    metrics = summarize_timings(reps, n_prompt)
    measured_memory = _memory(loaded, resources)
    sweep.record(speed_row(
        sweep.key(cell, loaded.info), loaded.info, settings, sweep.system,
        model_desc=loaded.model.description(), model_tensor_bytes=loaded.model.size_bytes,
        metrics={**metrics, "tokenize_ms": tokenize_ms},
        load_seconds=round(loaded.model.load_seconds, 4), resources=resources, sampler=monitor.overhead,
        timeline=timeline(monitor.readings), memory=measured_memory,
        energy=_energy(resources, gaps, reps, n_prompt, sweep.idle_w),
        thermal={**cell_thermal(resources), **cooldown},
        **_roofline(sweep, loaded, cell, settings, metrics.get("tg_tps_mean")),
        **({"cold_start": loaded.cold_start} if loaded.cold_start else {})))
    if loaded.estimate.weights_gpu_mb > 0 and not loaded.learned:  # --ngl 0: op offload blurs the residual
        _learn_overheads(sweep, loaded, measured_memory)


def _roofline(sweep: _Sweep, loaded: _Loaded, cell: Cell, settings: dict, tps: float | None) -> dict:
    """Decode's share of the probed bandwidth of the memory it reads: RAM for CPU cells and unified
    boards, the GPU's own for full offload; a split between the two has no single roof."""
    if cell.n_gpu_layers == 0 or sweep.unified:
        figures = roofline(loaded.header, settings, tps, sweep.bandwidth_gbs)
        memory_read = "RAM"
    elif cell.n_gpu_layers == -1:
        figures = roofline(loaded.header, settings, tps, sweep.gpu_bandwidth_gbs)
        memory_read = "GPU"
    else:
        return {}
    return {"roofline": {**figures, "memory": memory_read}} if figures else {}


def _learn_overheads(sweep: _Sweep, loaded: _Loaded, measured: dict) -> None:
    """What the process holds beyond the model's own buffers, remembered for this device's guard."""
    est = loaded.estimate
    vram = measured["peak_gpu_proc_mem_mb"] or measured["peak_gpu_mem_above_baseline_mb"]
    own_gpu = est.weights_gpu_mb + est.kv_gpu_mb + est.compute_gpu_mb
    host = None
    if loaded.host_share_visible and measured["peak_rss_mb"] is not None:
        host_now = est.overheads.host_mb if est.overheads else 0.0
        host = measured["peak_rss_mb"] - loaded.baseline_rss_mb - (est.ram_mb - host_now)
    remember(sweep.system, vram - own_gpu if vram is not None else None, host)
    loaded.learned = True


def _system_used_mb() -> float:
    """System RAM in use now (total minus available: on a Jetson the GPU's nvmap allocations show
    here, not in the process's RSS). The process sensor's readings give the same figure per cell."""
    import psutil

    memory_now = psutil.virtual_memory()
    return (memory_now.total - memory_now.available) / 2**20


def _system_peak_mb(resources: dict) -> float | None:
    """The most system RAM in use at any reading of the cell (from the lowest available memory)."""
    lows = [p["system_mem_available_mb_min"] for p in resources.values() if "system_mem_available_mb_min" in p]
    if not lows:
        return None
    import psutil

    return psutil.virtual_memory().total / 2**20 - min(lows)


def _gpu_used_mb(sensors: list) -> float | None:
    """GPU 0's used memory now, from the NVML sensor when there is one."""
    for sensor in sensors:
        if sensor.name == "nvml":
            return sensor.sample().get("gpu_mem_used_mb")
    return None


def _current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _memory(loaded: _Loaded, resources: dict) -> dict:
    """The guard's estimate beside what was measured. The process RSS also holds Python and the
    libraries (``baseline_rss_mb``, measured before loading), so compare peak with baseline + estimate."""
    est, baseline = loaded.estimate, loaded.baseline_rss_mb

    def peak(key: str) -> float | None:
        return max((p[key] for p in resources.values() if key in p), default=None)

    device_peak = peak("gpu_mem_used_mb_max")
    gpu = {"peak_gpu_mem_used_mb": device_peak,  # the whole device's, CUDA contexts of every process included
           "peak_gpu_proc_mem_mb": peak("gpu_proc_mem_used_mb_max"),  # this process's own, where NVML lists it
           "gpu_mem_used_before_load_mb": loaded.baseline_gpu_mb,
           "peak_gpu_mem_above_baseline_mb": (round(device_peak - loaded.baseline_gpu_mb, 1)
                                              if device_peak is not None and loaded.baseline_gpu_mb is not None
                                              else None)}
    system_peak = _system_peak_mb(resources)
    if loaded.baseline_system_mb is not None and system_peak is not None:
        gpu["system_ram_used_before_load_mb"] = round(loaded.baseline_system_mb, 1)
        gpu["peak_system_ram_above_baseline_mb"] = round(system_peak - loaded.baseline_system_mb, 1)
    if est.unified:  # GPU allocations are not in the RSS there: the larger of the two is the footprint
        rss = _peak_rss_mb()
        gpu["peak_unified_mb"] = memory.unified_peak_mb(rss - baseline if rss else None, loaded.baseline_system_mb,
                                                        system_peak)
    return {"baseline_rss_mb": round(baseline, 1), "estimate_ram_mb": round(est.ram_mb, 1),
            "estimate_total_rss_mb": round(baseline + est.ram_mb, 1), "estimate_vram_mb": round(est.vram_mb, 1),
            "estimate_weights_mb": round(est.weights_mb, 1), "estimate_kv_mb": round(est.kv_mb, 1),
            "estimate_compute_mb": round(est.compute_mb, 1), **peak_rss_fields(), **gpu,
            **_overhead_fields(est)}


def _overhead_fields(est: memory.Estimate) -> dict:
    if est.overheads is None:
        return {}
    return {"estimate_gpu_backend_mb": est.overheads.gpu_mb, "estimate_host_backend_mb": est.overheads.host_mb,
            "backend_overheads": est.overheads.source}


def _energy(resources: dict, gaps: dict[str, dict[str, str]], reps, n_prompt: int, idle_w: dict[str, float]) -> dict:
    """Joules per token for every energy source that was read, gross and (where the idle draw was
    read) net of idle; a source that could not measure a phase (too short for its update period, a
    counter that did not move) is listed under ``unmeasured`` with the reason, never written as 0."""
    tokens = sum(r.tokens_generated for r in reps)
    prompt_tokens = n_prompt * len(reps)
    out: dict = {"idle_w": idle_w} if idle_w else {}
    unmeasured = {}
    for phase, per_token_of in (("decode", tokens), ("prefill", prompt_tokens)):
        measured = resources.get(phase, {})
        for key, joules in measured.items():
            if key.endswith("_energy_j") and per_token_of:
                source = key.removesuffix("_energy_j")
                out[f"{phase}_{source}_j_per_token"] = round(joules / per_token_of, 6)
                if source in idle_w and "seconds" in measured:
                    out[f"{phase}_{source}_net_j_per_token"] = net_j_per_token(joules, idle_w[source],
                                                                                measured["seconds"], per_token_of)
        for key, reason in gaps.get(phase, {}).items():
            unmeasured[f"{phase}_{key.removesuffix('_energy_j')}_j_per_token"] = reason
    if unmeasured:
        out["unmeasured"] = unmeasured
    return out
