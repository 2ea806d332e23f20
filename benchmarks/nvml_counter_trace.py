"""Record how NVML's counters move while llama.cpp works on the GPU: the energy counter
(nvmlDeviceGetTotalEnergyConsumption, mJ) and the power reading, polled every ``--poll`` seconds
around short prefills and longer decodes. The output is the recorded sequence the tests replay
(tests/fixtures/recorded/nvml-energy-trace.json): how often the counter really updates decides
which phases can have an energy of their own.

    python benchmarks/nvml_counter_trace.py model.gguf --ngl 99 --out trace.json
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--ngl", type=int, default=99)
    parser.add_argument("--poll", type=float, default=0.002)
    parser.add_argument("--prompt", type=int, default=256)
    parser.add_argument("--gen", type=int, default=128)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    a = parser.parse_args()

    import pynvml

    from edgeprof import llamacpp
    from edgeprof.bench.engine import Context, ContextSettings, Model
    from edgeprof.bench.measure import greedy, random_prompt

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    llamacpp.init()
    phase, samples, stop = ["idle"], [], threading.Event()
    t0 = time.perf_counter()

    def poll() -> None:
        while not stop.is_set():
            samples.append([round(time.perf_counter() - t0, 6), phase[0],
                            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle),
                            pynvml.nvmlDeviceGetPowerUsage(handle)])
            time.sleep(a.poll)

    with Model(a.model, a.ngl) as model, Context(model, ContextSettings(n_ctx=a.prompt + a.gen + 8)) as ctx:
        prompt = random_prompt(a.prompt, model.n_vocab, 1)
        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        time.sleep(0.3)
        for _ in range(a.repetitions):
            ctx.clear()
            phase[0] = "prefill"
            ctx.prefill(prompt, 0)
            token = greedy(ctx)
            phase[0] = "decode"
            for pos in range(a.prompt, a.prompt + a.gen):
                ctx.decode_one(token, pos)
                token = greedy(ctx)
            phase[0] = "idle"
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        thread.join()
    name = pynvml.nvmlDeviceGetName(handle)
    a.out.write_text(json.dumps({
        "source": f"benchmarks/nvml_counter_trace.py on {name if isinstance(name, str) else name.decode()}, "
                  f"driver {pynvml.nvmlSystemGetDriverVersion()}, model {a.model.name}, ngl {a.ngl}, "
                  f"prompt {a.prompt}, gen {a.gen}, poll {a.poll} s",
        "columns": ["t_s", "phase", "energy_mj", "power_mw"], "samples": samples}))
    print(f"{len(samples)} samples -> {a.out}")


if __name__ == "__main__":
    main()
