"""Issue 16, classes 1, 7 and 8 on every command: numbers out of what llama.cpp and the OS accept
(nan, inf, 32-bit wrap, absurd thread counts), outputs that cannot be written (refused before the
first cell or conversion, through symbolic links), and sharp edges (nothing to measure, an empty
prompt file, a level list naming no level, a task not recorded, control characters in names).
Each refusal is one line that names the option or file and the problem, exit code 1, no traceback,
nothing written. Then the sharp edges that are not refusals: n=1, the trained-context note,
names in the report, hidden folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from tiny import TinySpec

from edgeprof.cli.main import cli

RECORDED = Path(__file__).parent / "fixtures" / "recorded" / "demo-vm"
RUN = ["run", "models.toml", "--suite"]  # + a suite file written below
INT32 = "a whole number from 0 to 2147483647 (llama.cpp's 32-bit token counts)"
CELL = ["-p", "8", "-n", "2", "-r", "1", "--no-progress"]  # a cell that would run, and write, in a second

SUITES = {
    "threads.toml": '[[scenario]]\nname = "t"\nthreads = [1, 99999]\n',
    "reps.toml": '[[scenario]]\nname = "r"\nrepetitions = 0\n',
    "wrap.toml": '[[scenario]]\nname = "w"\nprompt_tokens = [4294967552]\n',
    "kld.toml": "[budget]\nmax_kld = nan\n",
    "pplctx.toml": "[quality]\nppl_ctx = 8\n",
    "zeros.toml": '[[scenario]]\nname = "z"\nprompt_tokens = [0]\ngen_tokens = [0]\n',
}

# class 1: name -> (args with {model}/{ckpt}/{demo} placeholders, the line's start, text it must hold)
NUMBERS = {
    "bench: temperature nan": (["bench", "{model}", "--temperature", "nan"], "--temperature nan",
                               "not a finite number; use a number of at least 0"),
    "bench: temperature below 0": (["bench", "{model}", "--temperature", "-0.5"], "--temperature -0.5", "out of range"),
    "bench: interval nan": (["bench", "{model}", "--interval", "nan"], "--interval nan", "not a finite number"),
    "bench: interval inf": (["bench", "{model}", "--interval", "inf"], "--interval inf",
                            "use a number from 0.005 to 60 seconds"),
    "bench: ctx wraps 32 bits": (["bench", "{model}", "--ctx", "4294967552", "--force"], "--ctx 4294967552",
                                 "out of range; use a whole number from 16 to 2147483647"),
    "bench: threads far beyond the cores": (["bench", "{model}", "-t", "9999"], "--threads 9999",
                                            "x the"),
    "bench: one thread count of a list": (["bench", "{model}", "-t", "1,9999"], "--threads 9999", "out of range"),
    "bench: threads 0": (["bench", "{model}", "-t", "0"], "--threads 0", "out of range"),
    "bench: seed negative": (["bench", "{model}", "--seed", "-1"], "--seed -1", "0 to 4294967295"),
    "bench: seed beyond 32 bits": (["bench", "{model}", "--seed", "4294967296"], "--seed 4294967296", "32-bit seeds"),
    "bench: cell timeout inf": (["bench", "{model}", "--cell-timeout", "inf"], "--cell-timeout inf",
                                "not a finite number"),
    "bench: cell timeout beyond the OS": (["bench", "{model}", "--cell-timeout", "1e300"], "--cell-timeout 1e300",
                                          "the longest wait the OS timers take"),
    "bench: cooldown nan": (["bench", "{model}", "--cooldown", "nan"], "--cooldown nan", "not a finite number"),
    "bench: prompt beyond 32 bits": (["bench", "{model}", "-p", "99999999999"], "--prompt-tokens 99999999999", INT32),
    "bench: generation beyond 32 bits": (["bench", "{model}", "-n", "2147483648"], "--gen-tokens 2147483648", INT32),
    "bench: depth not whole": (["bench", "{model}", "-d", "1e3"], "--depth", "'1e3' is not a whole number"),
    "bench: lengths overflow the context": (["bench", "{model}", "-p", "2147483647"], "-p/-n/-d",
                                            "more than llama.cpp's 32-bit positions hold"),
    "bench: batch 0": (["bench", "{model}", "-b", "0"], "--batch 0", "from 1 to 2147483647"),
    "bench: ubatch 0": (["bench", "{model}", "-ub", "0"], "--ubatch 0", "from 1 to 2147483647"),
    "bench: ngl beyond 32 bits": (["bench", "{model}", "--ngl", "4294967296"], "--ngl 4294967296",
                                  "all or -1 for every layer"),
    "bench: repetitions 0": (["bench", "{model}", "-r", "0"], "--repetitions 0", "from 1 to"),
    "bench: repetitions not whole": (["bench", "{model}", "-r", "1.5"], "--repetitions '1.5'", "not a whole number"),
    "bench: pg beyond 32 bits": (["bench", "{model}", "--tests", "llama-bench", "-pg", "8,4294967296"],
                                 "-pg 4294967296", INT32),
    "bench: limit 0": (["bench", "{model}", "--tasks", "hellaswag", "--limit", "0"], "--limit 0", "from 1 to"),
    "bench: shots negative": (["bench", "{model}", "--tasks", "hellaswag", "--shots", "-1"], "--shots -1",
                              "from 0 to"),
    "bench: task ctx too small": (["bench", "{model}", "--tasks", "hellaswag", "--task-ctx", "8"], "--task-ctx 8",
                                  "from 64 to"),
    "bench: ppl ctx wraps": (["bench", "{model}", "--ppl", "x", "--ppl-ctx", "4294967552"], "--ppl-ctx 4294967552",
                             "out of range"),
    "bench: ppl chunks 0": (["bench", "{model}", "--ppl", "x", "--ppl-chunks", "0"], "--ppl-chunks 0", "from 1 to"),
    "convert: threads 0": (["convert", "{ckpt}", "-t", "0", "--out", "out"], "--threads 0", "out of range"),
    "convert: threads far beyond the cores": (["convert", "{ckpt}", "-t", "99999", "--out", "out"], "--threads 99999",
                                              "x the"),
    "report: max kld nan": (["report", "--results", "{demo}", "--max-kld", "nan"], "--max-kld nan",
                            "not a finite number"),
    "report: min acc above 1": (["report", "--results", "{demo}", "--min-acc", "1.5"], "--min-acc 1.5",
                                "from 0 to 1"),
    "report: min acc inf": (["report", "--results", "{demo}", "--min-acc", "inf"], "--min-acc inf",
                            "not a finite number"),
    "run: suite threads far beyond the cores": ([*RUN, "threads.toml"], "threads.toml: line 1, scenario[0]",
                                                "threads 99999: out of range"),
    "run: suite repetitions 0": ([*RUN, "reps.toml"], "reps.toml", "repetitions 0: out of range"),
    "run: suite prompt wraps 32 bits": ([*RUN, "wrap.toml"], "wrap.toml", "prompt_tokens 4294967552"),
    "run: suite budget nan": ([*RUN, "kld.toml"], "kld.toml: line 1, budget", "max_kld nan: not a finite"),
    "run: suite ppl ctx too small": ([*RUN, "pplctx.toml"], "pplctx.toml", "ppl_ctx 8: out of range"),
}

# class 7: every output checked before any work (the symlink leads to sysfs: no file can be made there, root or not)
OUTPUTS = {
    "bench: results a link to a read-only folder": (["bench", "{model}", *CELL, "--results", "ro"], "ro",
                                                    "cannot write there: permission denied (ro leads to /sys/kernel)"),
    "bench: results below that link": (["bench", "{model}", *CELL, "--results", "ro/sub"], "ro/sub",
                                       "permission denied"),
    "bench: results a dangling link": (["bench", "{model}", *CELL, "--results", "dangling"], "dangling",
                                       "a symbolic link to /nonexistent-edgeprof/x, which does not exist"),
    "bench: task answers folder not writable": (["bench", "{model}", "--tasks", "hellaswag", "--limit", "2",
                                                 "--no-speed", "--results", "res"], "res/tasks", "permission denied"),
    "bench: export into a read-only folder": (["bench", "{model}", *CELL, "--export-llama-bench", "ro/ep.json"],
                                              "ro/ep.json", "permission denied"),
    "convert: out a link to a read-only folder": (["convert", "{ckpt}", "--out", "ro"], "ro", "permission denied"),
    "plot: out a link to a read-only folder": (["plot", "--results", "{demo}", "--out", "ro"], "ro",
                                               "permission denied"),
    "report: out a link to a read-only folder": (["report", "--results", "{demo}", "--out", "ro"], "ro",
                                                 "permission denied"),
    "report: its figures folder not writable": (["report", "--results", "{demo}", "--out", "rep"], "rep/figures",
                                                "permission denied"),
    "run: output_dir a link to a read-only folder": (["run", "ro-models.toml"], "ro/models",
                                                     "permission denied"),
}

# class 8, the refusals
EDGES = {
    "bench: nothing to measure": (["bench", "{model}", "-p", "0", "-n", "0"], "-p 0 -n 0 (prompt_tokens, gen_tokens)",
                                  "no cell would measure anything"),
    "bench: empty prompt file": (["bench", "{model}", "--prompt-file", "empty.txt"], "empty.txt",
                                 "the prompt file holds no text"),
    "bench: prompt file not UTF-8": (["bench", "{model}", "--prompt-file", "latin1.txt"], "latin1.txt",
                                     "not UTF-8 text"),
    "bench: device name with a newline": (["bench", "{model}", "--device-name", "pi\nfive"],
                                          "--device-name 'pi\\nfive'", "control characters"),
    "bench: synthetic levels naming none": (["bench", "--synthetic", "SmolLM2-135M", "--quant", ","], "--quant ','",
                                            "names no quantization level"),
    "convert: levels naming none": (["convert", "{ckpt}", "--quant", ",", "--out", "out"], "--quant ','",
                                    "names no quantization level"),
    "report: a task not recorded": (["report", "--results", "{demo}", "--task", "hellaswagg"], "--task hellaswagg",
                                    "no accuracy of this task is recorded in the results (did you mean 'hellaswag'?)"),
    "run: device name with a newline": (["run", "models.toml", "--device-name", "a\nb"], "--device-name 'a\\nb'",
                                        "control characters"),
    "run: suite with nothing to measure": ([*RUN, "zeros.toml"], "zeros.toml", "no cell would measure anything"),
}


def listing(root: Path) -> list[str]:
    """Every path under ``root``, symbolic links not followed (one leads into /sys)."""
    return sorted(str(Path(d, n).relative_to(root)) for d, dirs, files in os.walk(root) for n in dirs + files)


@pytest.fixture
def project(tiny_factory, tmp_path):
    checkpoint, _, model = tiny_factory(TinySpec(tied=True))
    (tmp_path / "ro").symlink_to("/sys/kernel")
    (tmp_path / "dangling").symlink_to("/nonexistent-edgeprof/x")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "tasks").symlink_to("/sys/kernel")
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "figures").symlink_to("/sys/kernel")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    for name, text in SUITES.items():
        (tmp_path / name).write_text(text)
    model_entry = f'[[models]]\nname = "tiny"\nsource = "{checkpoint}"\nquant = ["Q8_0"]\n'
    (tmp_path / "models.toml").write_text(f'output_dir = "out"\n\n{model_entry}')
    (tmp_path / "ro-models.toml").write_text(f'output_dir = "ro"\n\n{model_entry}')
    return {"model": model, "ckpt": checkpoint, "demo": RECORDED, "tmp": tmp_path}


@pytest.mark.parametrize("case", [*(f"numbers: {c}" for c in NUMBERS), *(f"outputs: {c}" for c in OUTPUTS),
                                  *(f"edges: {c}" for c in EDGES)])
def test_a_bad_input_is_one_line_and_writes_nothing(case, project, tmp_path):
    table, name = case.split(": ", 1)
    args, start, wanted = {"numbers": NUMBERS, "outputs": OUTPUTS, "edges": EDGES}[table][name]
    before = listing(tmp_path)
    result = CliRunner().invoke(cli, [a.format(**project) for a in args])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {start.format(**project)}: "), result.output
    assert result.output.count("\n") == 1, result.output
    assert wanted in result.output and "Traceback" not in result.output, result.output
    assert listing(tmp_path) == before


def test_one_repetition_shows_n1_not_a_zero_spread(tmp_path):
    """-r 1 has one sample, so no spread: the terminal table and the report say n=1, never '± 0.00'."""
    from edgeprof.plot.report import _speed_table
    from edgeprof.results.export import table
    from edgeprof.results.read import load_results

    rows = [json.loads(line) for line in (RECORDED / "bench.jsonl").read_text().splitlines()]
    speed = next(r for r in rows if r["kind"] == "speed" and r["status"] == "ok")
    single = {**speed, "settings": {**speed["settings"], "repetitions": 1},
              "metrics": {**speed["metrics"], "tg_tps_std": 0.0, "pp_tps_std": 0.0, "ttft_ms_std": 0.0}}
    printed = table([single])
    assert "(n=1)" in printed and "± 0.00" not in printed
    assert "±" in table([speed])  # several repetitions keep their spread
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "bench.jsonl").write_text(json.dumps(single) + "\n")
    cells = _speed_table(load_results([tmp_path / "r"])).rows[0]
    assert any("(n=1)" in c for c in cells) and not any("± 0.0" in c for c in cells)


def test_a_prompt_beyond_the_trained_context_is_noted(tiny_factory, tmp_path):
    """The tiny model was trained on 512 tokens: a 600-token prompt still runs, with a note saying so."""
    _, _, model = tiny_factory(TinySpec(tied=True))
    result = CliRunner().invoke(cli, ["bench", str(model), "-p", "600", "-n", "2", "-r", "1", "--no-warmup",
                                      "--no-progress", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"note: {model}: 602 tokens of prompt, depth and generation go beyond the 512 tokens it was trained " \
           "on" in result.output
    inside = CliRunner().invoke(cli, ["bench", str(model), "-p", "16", "-n", "2", "-r", "1", "--no-progress",
                                      "--results", str(tmp_path)])
    assert inside.exit_code == 0 and "trained on" not in inside.output


def test_names_in_the_report_are_text_not_markup(tmp_path):
    """A device name with HTML and a newline: report.md shows it as text on one line (Markdown viewers
    render raw HTML), every table row stays one line, and report.html escapes it."""
    hostile = '<img src=x onerror="alert(1)">\n| pi &amp; <b>five</b>'
    rows = [json.loads(line) for line in (RECORDED / "bench.jsonl").read_text().splitlines()]
    for row in rows:
        row["system"]["device_name"] = hostile
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "<img" not in md and "<b>" not in md and "&amp;amp;" in md
    assert "&lt;img src=x" in md
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in table_lines)  # no row split by the newline
    assert not any(line.startswith("| pi") for line in md.splitlines())
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_device_names_never_make_hidden_or_climbing_folders():
    from edgeprof.paths import slug

    assert slug("../../etc/x") == "etc-x"
    assert slug(".hidden") == "hidden" and slug("..") == slug("") == "device"
    assert slug("Raspberry Pi 5 Model B Rev 1.0") == "raspberry-pi-5-model-b-rev-1.0"


def test_terminal_tables_keep_a_row_on_one_line():
    from edgeprof.text_table import aligned

    assert aligned([["model", "t/s"], ["evil\nname\x1b[31m", "1.0"]]).splitlines()[1] == "evil name [31m  1.0"


def test_a_tiny_temperature_samples_the_top_token_not_nan():
    """--temperature 1e-300 is in range: sampling divides after shifting the logits, so it cannot
    overflow to inf - inf = nan (it used to raise 'Probabilities contain NaN')."""
    import numpy as np

    from edgeprof.bench.measure import TokenSampler

    class Ctx:
        def logits(self):
            return np.array([1.0, 5.0, 2.0], dtype=np.float32)

    assert {TokenSampler(1e-300, seed=1)(Ctx()) for _ in range(5)} == {1}
