"""Report tables for what edge boards add to a burst measurement: sustained runs (steady state,
throttling, J/token after minutes) and cold starts (load from storage to first token)."""

from __future__ import annotations

from edgeprof.plot.document import Table
from edgeprof.results.read import device_of, level_of, model_of


def _num(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def sustain_table(rows: list[dict]) -> Table | None:
    rows = [r for r in rows if r.get("status") == "ok"]
    if not rows:
        return None
    lines = []
    for r in rows:
        st, s, thermal = r["steady"], r["settings"], r.get("thermal") or {}
        throttled = thermal.get("throttled")
        lines.append((device_of(r), model_of(r), level_of(r), _ngl(s), str(s.get("n_threads")),
                      s.get("load_mode", "auto"),
                      _num(r.get("decode_s"), 0), _num(st.get("burst_tps")), _num(st.get("steady_tps")),
                      _num(st.get("steady_over_burst"), 3), _num(st.get("first_slowdown_s"), 0),
                      _num(thermal.get("max_temp_c")), "–" if throttled is None else ("yes" if throttled else "no"),
                      _num(st.get("steady_j_per_token"), 4), _num(st.get("steady_net_j_per_token"), 4)))
    return Table(("device", "model", "level", "ngl", "threads", "load mode", "seconds", "burst t/s", "steady t/s",
                  "steady / burst", "first slowdown s", "max °C", "throttled", "steady J/token", "above idle"),
                 tuple(lines),
                 "burst = the first window; steady = median of the last third of the windows; first slowdown = the "
                 "first window below 90% of the burst or with a throttle flag; J/token from the widest power "
                 "source read, over the steady windows (– where the board has no power sensor); above idle: less the "
                 "idle draw read before the sweep")


def cold_start_table(speed_rows: list[dict]) -> Table | None:
    starts = {}
    for r in speed_rows:  # every cell of one load carries the same figures: one line per load
        start = r.get("cold_start")
        if r.get("status") == "ok" and start:
            s = r["settings"]
            starts[(device_of(r), model_of(r), level_of(r), _ngl(s), s.get("load_mode", "auto"))] = start
    if not starts:
        return None
    lines = []
    for (device, model, level, ngl, mode), st in starts.items():
        cache = st.get("page_cache") or {}
        dropped = "dropped" if cache.get("cold") else f"not dropped ({cache.get('why', '?')})"
        left = cache.get("cached_fraction_after_drop")
        lines.append((device, model, level, ngl, mode, dropped + (f", {left:.0%} left" if left else ""),
                      _num(st.get("load_s"), 3), _num(st.get("context_s"), 3), str(st.get("n_prompt")),
                      _num(st.get("first_ttft_ms")), _num(st.get("to_first_token_s"), 3)))
    return Table(("device", "model", "level", "ngl", "load mode", "page cache", "load s", "context s", "prompt",
                  "first TTFT ms", "to first token s"), tuple(lines),
                 "bench --cold: the file dropped from the page cache, then load + context + the first request timed; "
                 "with mmap the reading happens on first touch, so it shows in the first TTFT rather than the load")


def _ngl(settings: dict) -> str:
    return "all" if settings.get("n_gpu_layers") == -1 else str(settings.get("n_gpu_layers"))
