"""Rows read back (issue 16, classes 2-4): a malformed row is skipped and counted with its file and line
by every reader (plot, report, a resumed bench), a row of a newer schema is refused in one line; the
report shows the latest measurement of each thing and never collapses different things; a cell's key
holds what it measured (the prompt's content, the device's name) and each model file is measured once.
Last, random rows fed to plot, report and a resumed bench: one-line errors or counted skips, never a
traceback."""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeprof.cli.main import cli
from edgeprof.errors import EdgeprofError
from edgeprof.results.read import load_results

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
DEMO = RECORDED / "demo-vm"
BENCH = ["-p", "8", "-n", "2", "-r", "1", "--no-progress"]


def lines_of(folder: Path) -> list[str]:
    return (folder / "bench.jsonl").read_text().splitlines()


def write_lines(folder: Path, lines: list[str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.jsonl").write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return folder


def run(*args) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_no_traceback(result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output, result.output


@pytest.fixture(scope="module")
def q4(tiny_levels):
    return tiny_levels("Q4_0")["Q4_0"]


@pytest.fixture(scope="module")
def measured(q4, tmp_path_factory) -> list[str]:
    """Two rows the tiny model's bench wrote (one and two threads): the valid rows around a bad one."""
    folder = tmp_path_factory.mktemp("measured")
    result = run("bench", q4, *BENCH, "-t", "1,2", "--results", folder)
    assert result.exit_code == 0, result.output
    return lines_of(folder)


# --- class 2: one malformed row no longer breaks every reader -------------------------------------

def edit(path: str, value=None, delete: bool = False):
    """A bad line: the first valid row with the value at ``path`` (dotted) replaced or deleted."""
    def make(row: dict) -> str:
        *parents, last = path.split(".")
        node = row
        for key in parents:
            node = node[key]
        if delete:
            del node[last]
        else:
            node[last] = value
        return json.dumps(row)  # NaN and infinities as Python's json writes them
    return make


BAD_ROWS = {
    # name: (the bad line made from a valid row (or given), the reason the note gives; None: refused)
    "a speed that is text": (edit("metrics.tg_tps_mean", "fast"),
                             "metrics.tg_tps_mean: expected a number or null, got 'fast'"),
    "settings missing": (edit("settings", delete=True), "settings is missing"),
    "a row of a future schema": (edit("schema", 2), None),
    "NaN speed (Python's json)": (edit("metrics.tg_tps_mean", math.nan), "metrics.tg_tps_mean is nan"),
    "Infinity size": (edit("model.size_bytes", math.inf), "model.size_bytes is inf"),
    "a number too large for a float": (lambda row: json.dumps(row).replace('"n_params":', '"n_params":1e999,"x":'),
                                       "model.n_params is inf"),
    "negative speed": (edit("metrics.tg_tps_mean", -5.0), "metrics.tg_tps_mean is -5.0; it must be 0 or more"),
    "a zero duration divided by": (edit("metrics.tg_samples_ns", [0]),
                                   "metrics.tg_samples_ns is 0; it must be above 0"),
    "a whole number beyond 64 bits": (edit("model.size_bytes", 10**30), "model.size_bytes: expected a whole number"),
    "model is a list": (edit("model", []), "model: expected an object, got a list"),
    "device name is a list": (edit("system.device_name", ["pi"]), "system.device_name: expected text or null"),
    "threads is text": (edit("settings.n_threads", "four"), "settings.n_threads: expected a whole number, got 'four'"),
    "timeline series of another length": (lambda row: json.dumps({**row, "timeline": {
        "t": [0.0, 0.1], "phase": ["load"], "values": {}}}), "timeline.phase has 1 entries for 2 times"),
    "an unknown kind": (edit("kind", "energy"), "kind 'energy' is not one this edgeprof knows"),
    "status neither ok nor failed": (edit("status", "done"), "status: expected 'ok' or 'failed', got 'done'"),
    "a corrupt line in the middle": (lambda row: json.dumps(row)[:300], "not valid JSON ("),
    "not an object": (lambda row: "[1, 2, 3]", "the line: expected a JSON object, got a list"),
    "nested 100000 deep": (lambda row: "[" * 100_000 + "]" * 100_000, "nested deeper than a row ever is"),
    "not UTF-8": (lambda row: b'{"cell": "\xff\xfe"}', "not UTF-8 text"),
    "a line of 17 MiB": (lambda row: '{"pad": "' + "x" * (17 << 20) + '"}', "a line longer than 16 MiB"),
}


PLOTTED = ("a speed that is text", "a row of a future schema", "a corrupt line in the middle",
           "NaN speed (Python's json)")


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_row_is_skipped_and_counted_by_every_reader(case, q4, measured, tmp_path):
    make, reason = BAD_ROWS[case]
    bad = make(json.loads(measured[0]))
    folder = write_lines(tmp_path / "results", [measured[0], bad, measured[1]])
    store = folder / "bench.jsonl"
    commands = {"report": ["report", "--results", folder, "--out", tmp_path / "report"],
                "bench (resumed)": ["bench", q4, *BENCH, "-t", "1,2", "--results", folder]}
    if case in PLOTTED:  # plot reads rows as report does (report draws the same figures): a few cases suffice
        commands["plot"] = ["plot", "--results", folder, "--out", tmp_path / "figures"]
    for name, args in commands.items():
        result = run(*args)
        assert_no_traceback(result)
        if reason is None:  # refused in one line that names the file, the line and the schema
            assert result.exit_code == 1, (name, result.output)
            assert result.output == (f"Error: {store}:2: a row of schema 2, written by a newer edgeprof (this one "
                                     "reads schema 1 and earlier); upgrade edgeprof to read these results\n"), name
            continue
        assert result.exit_code == 0, (name, result.output)
        notes = [line for line in result.output.splitlines() if line.startswith("note: skipped")]
        assert len(notes) == 1, (name, result.output)  # printed once
        assert notes[0].startswith("note: skipped 1 result row(s) that are not valid rows (the others are used): "
                                   f"{store}:2 ({reason}"), (name, notes[0][:300])
    if reason is not None:
        result = run(*commands["bench (resumed)"])
        assert "skipped 2 cells already in" in result.output  # the valid rows still count as measured
        assert len(store.read_bytes().splitlines()) == 3  # nothing measured again


def test_the_note_names_five_places_then_counts_the_rest(measured, tmp_path):
    folder = write_lines(tmp_path / "r", [measured[0], *["{torn"] * 7, measured[1]])
    result = run("plot", "--results", folder, "--out", tmp_path / "f")
    assert result.exit_code == 0, result.output
    note = next(line for line in result.output.splitlines() if line.startswith("note:"))
    assert note.startswith("note: skipped 7 result row(s)") and note.endswith("; and 2 more")
    assert [f"bench.jsonl:{n} (" in note for n in range(2, 9)] == [True] * 5 + [False] * 2


def test_the_bench_never_writes_a_row_its_readers_refuse(tmp_path):
    from edgeprof.results.store import ResultStore

    row = json.loads(lines_of(DEMO)[0])
    row["metrics"]["tg_tps_std"] = math.nan  # e.g. a statistic of nothing
    row["resources"]["decode"]["rss_mb_max"] = math.inf
    store = ResultStore(tmp_path)
    store.append(row)
    (stored,) = store.rows()
    assert stored["metrics"]["tg_tps_std"] is None and stored["resources"]["decode"]["rss_mb_max"] is None
    assert "NaN" not in store.path.read_text() and not store.skipped


# --- class 3: the report shows the right rows ----------------------------------------------------

def demo_rows() -> list[dict]:
    return [json.loads(line) for line in lines_of(DEMO)]


def reference_speed(rows: list[dict], level: str) -> dict:
    """The demo's row that the leaderboard shows for ``level`` (2 threads, the longest prompt)."""
    return max((r for r in rows if r["kind"] == "speed" and r["model"]["level"] == level
                and r["settings"]["n_threads"] == 2), key=lambda r: r["settings"]["n_prompt"])


def copy_demo(folder: Path, rows: list[dict]) -> Path:
    write_lines(folder, [json.dumps(r) for r in rows])
    shutil.copytree(DEMO / "tasks", folder / "tasks")
    return folder


def board(folders: list[Path], device: str | None = None, **budget):
    from edgeprof.plot.leaderboard import Budget, entries

    results = load_results(folders)
    return {e.level: e for e in entries(results, device or results.devices[0], Budget(**budget))}


def case_rerun_replaces_the_old_measurement(tmp_path):
    rows = demo_rows()
    again = copy.deepcopy(reference_speed(rows, "Q8_0"))
    again["metrics"]["tg_tps_mean"], again["timestamp"] = 999.0, "2026-12-01T00:00:00+0000"
    folder = copy_demo(tmp_path / "r", rows + [again])  # bench --rerun appends the new row
    assert board([folder])["Q8_0"].tg_tps == 999.0
    assert load_results([folder]).replaced == 1


def case_a_small_few_shot_task_run_does_not_replace_the_full_one(tmp_path):
    from edgeprof.plot.quality import accuracy_by_file

    rows = demo_rows()
    task = next(r for r in rows if r["kind"] == "task" and r["model"]["level"] == "Q8_0")
    other = copy.deepcopy(task)
    other["task"].update(shots=100, limit=1, n_examples=1)
    other["metrics"].update(n=1, acc=1.0, acc_norm=1.0, acc_stderr=None, acc_norm_stderr=None)
    other["cell"], other["details"] = "other", "tasks/other.jsonl"
    folder = copy_demo(tmp_path / "r", rows + [other])
    accuracy = accuracy_by_file(load_results([folder]))[task["model"]["sha256"]]["hellaswag"]
    assert (accuracy.value, accuracy.n) == (task["metrics"]["acc_norm"], 20)


def case_a_kld_on_another_corpus_does_not_replace_the_compared_one(tmp_path):
    from edgeprof.plot.quality import kld_by_file

    rows = demo_rows()
    ppl = next(r for r in rows if r["kind"] == "perplexity" and r["model"]["level"] == "Q4_K_M")
    other = copy.deepcopy(ppl)
    other["corpus"], other["metrics"]["kld_mean"] = "file other.txt", 5.0
    folder = copy_demo(tmp_path / "r", rows + [other])
    assert kld_by_file(load_results([folder]))[ppl["model"]["sha256"]]["kld_mean"] == ppl["metrics"]["kld_mean"]


def case_two_folders_with_one_device_name_are_two_devices(tmp_path):
    rows = demo_rows()
    faster = copy.deepcopy(rows)
    for row in faster:
        if row["kind"] == "speed":
            row["metrics"]["tg_tps_mean"] *= 2
    a, b = copy_demo(tmp_path / "a", rows), copy_demo(tmp_path / "b", faster)
    results = load_results([a, b])
    assert results.devices == [f"vm ({a})", f"vm ({b})"]
    first, second = board([a, b], results.devices[0]), board([a, b], results.devices[1])
    assert second["Q8_0"].tg_tps == 2 * first["Q8_0"].tg_tps == 2 * reference_speed(rows, "Q8_0")["metrics"][
        "tg_tps_mean"]


def case_two_files_of_one_model_and_level_are_both_ranked(tmp_path):
    rows = demo_rows()
    other = [copy.deepcopy(r) for r in rows if r["kind"] == "speed" and r["model"]["level"] == "Q4_K_M"]
    for row in other:  # the same level made again (another recipe, another llama.cpp): another file
        row["model"].update(sha256="0" * 64, file="SmolLM2-135M-Instruct-Q4_K_M-imatrix.gguf")
        row["metrics"]["tg_tps_mean"] /= 2
    levels = board([copy_demo(tmp_path / "r", rows + other)])
    first, second = levels["Q4_K_M [SmolLM2-135M-Instruct-Q4_K_M.gguf]"], levels[
        "Q4_K_M [SmolLM2-135M-Instruct-Q4_K_M-imatrix.gguf]"]
    assert second.tg_tps == first.tg_tps / 2 == reference_speed(rows, "Q4_K_M")["metrics"]["tg_tps_mean"] / 2


def case_per_device_figure_names_do_not_collide(tmp_path):
    from edgeprof.plot.figures import render_all

    folders = []
    for name in ("Pi 5", "pi-5"):
        rows = [r for r in demo_rows() if r["kind"] == "speed"]
        for row in rows:
            row["system"]["device_name"] = name
        folders.append(copy_demo(tmp_path / name.replace(" ", "_"), rows))
    drawn = [r for r in render_all(load_results(folders), tmp_path / "fig", "png", ["latency_vs_prompt"]) if r.path]
    assert len(drawn) == 2 and len({r.path for r in drawn}) == 2 and all(r.path.exists() for r in drawn)


def case_a_nan_budget_is_refused(tmp_path):
    from edgeprof.plot.leaderboard import Budget

    for budget in ({"max_kld": math.nan}, {"min_acc": math.nan}, {"max_kld": math.inf}):
        with pytest.raises(EdgeprofError, match="not a finite number"):
            Budget(**budget)
    result = run("report", "--results", DEMO, "--max-kld", "nan", "--out", tmp_path / "rep")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "nan" in result.output, result.output


def case_speeds_that_are_no_measurement_are_not_ranked(tmp_path):
    rows = demo_rows()
    reference_speed(rows, "Q4_0")["metrics"]["tg_tps_mean"] = 0.0
    reference_speed(rows, "Q2_K")["metrics"]["tg_tps_mean"] = None
    folder = copy_demo(tmp_path / "r", rows)
    levels = board([folder])
    assert levels["Q4_0"].fails == "decode speed 0 t/s: nothing was decoded"
    assert levels["Q2_K"].fails == "no decode speed recorded"
    ranked = [e for e in levels.values() if e.fails is None]
    assert ranked and all(e.tg_tps > 0 for e in ranked)


def case_a_zero_size_does_not_divide_by_zero(tmp_path):
    from edgeprof.plot.leaderboard import Budget, entries, recommendation

    rows = demo_rows()
    for row in rows:
        if row["model"]["level"] == "Q8_0":
            row["model"]["size_bytes"] = 0
    results = load_results([copy_demo(tmp_path / "r", rows)])
    device = results.devices[0]
    text = recommendation(device, entries(results, device, Budget()), Budget())
    assert text.startswith(f"On {device}, ") and "% of its file size" not in text


WRONG_ROWS = {name.removeprefix("case_"): fn for name, fn in dict(globals()).items() if name.startswith("case_")}


@pytest.mark.parametrize("case", list(WRONG_ROWS))
def test_the_report_shows_the_right_rows(case, tmp_path):
    WRONG_ROWS[case](tmp_path)


# --- class 4: what a cell's key holds -------------------------------------------------------------

def stored(folder: Path) -> list[dict]:
    return [json.loads(line) for line in lines_of(folder)]


def legacy_key(row: dict, q4: Path, prompt: str) -> str:
    """The key this row's cell had before the prompt's content and the device's name were in keys."""
    from edgeprof.bench.sweep import SweepSpec, plan, settings_of
    from edgeprof.results.store import cell_key

    (cell,) = plan(SweepSpec(models=(q4,), threads=(1,), n_prompt=(8,), n_gen=(2,), repetitions=1))
    parts = {"sha256": row["model"]["sha256"], "settings": settings_of(cell), "device": row["system"]["device_id"]}
    now = {**parts, "prompt": f"sha256:{row['settings']['prompt_sha256']}" if prompt != "random" else "random"}
    assert row["cell"] == cell_key(now, row["system"]["device_name"])  # the same parts as the runner's
    return cell_key({**parts, "prompt": prompt})


def prompts(tmp_path: Path) -> dict[str, Path]:
    texts = {"a/prompt.txt": "The quick brown fox jumps over the lazy dog near the river bank today.",
             "b/prompt.txt": "Numbers: 3.14159, 2026, 1000000 and 42 appear in text; so do dates.",
             "c/renamed.txt": "The quick brown fox jumps over the lazy dog near the river bank today."}
    for name, text in texts.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    return {name: tmp_path / name for name in texts}


KEYS = {
    # name: (first bench's extra args, second bench's extra args, measured again?)
    "a prompt file of the same name with other text": (["--prompt-file", "a/prompt.txt"],
                                                         ["--prompt-file", "b/prompt.txt"], True),
    "the same prompt text under another name": (["--prompt-file", "a/prompt.txt"], ["--prompt-file", "c/renamed.txt"],
                                                False),
    "another device name": (["--device-name", "pi-a"], ["--device-name", "pi-b"], True),
    "the same device name": (["--device-name", "pi-a"], ["--device-name", "pi-a"], False),
    "a store from before, random prompt": ([], [], False),  # its row's key rewritten to the old form
    "a store from before, device name given": (["--device-name", "pi-a"], ["--device-name", "pi-a"], False),
    "a store from before, prompt file": (["--prompt-file", "a/prompt.txt"], ["--prompt-file", "a/prompt.txt"], True),
}


@pytest.mark.parametrize("case", list(KEYS))
def test_a_cell_key_holds_what_was_measured(case, q4, tmp_path):
    first, second, again = KEYS[case]
    prompts(tmp_path)
    results = tmp_path / "r"
    assert run("bench", q4, *BENCH, "-t", "1", *first, "--results", results).exit_code == 0
    if "from before" in case:  # as an earlier edgeprof keyed it: the prompt by file name, no device name
        (row,) = stored(results)
        prompt = f"file:{Path(first[1]).name}" if "--prompt-file" in first else "random"
        row["cell"] = legacy_key(row, q4, prompt)
        write_lines(results, [json.dumps(row)])
    result = run("bench", q4, *BENCH, "-t", "1", *second, "--results", results)
    assert result.exit_code == 0, result.output
    assert ("skipped 1 cells" in result.output) is not again, result.output
    rows = stored(results)
    assert len(rows) == (2 if again else 1)
    if again:
        assert len({r["cell"] for r in rows}) == 2


@pytest.mark.parametrize("how", ["twice", "through a symbolic link", "a copy (same content)"])
def test_a_model_given_twice_is_measured_once(how, q4, tmp_path):
    other = {"twice": q4, "through a symbolic link": tmp_path / "link.gguf",
             "a copy (same content)": tmp_path / "copy.gguf"}[how]
    if how == "through a symbolic link":
        other.symlink_to(q4)
    elif how == "a copy (same content)":
        shutil.copy(q4, other)
    result = run("bench", q4, other, *BENCH, "-t", "1", "--results", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert len(stored(tmp_path / "r")) == 1
    same = "the same content" if how.startswith("a copy") else "the same file"
    assert f"note: {other} is {same} as {q4}: measured once" in result.output


# --- random rows: one-line errors or counted skips, never a traceback -------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
SHARP = st.sampled_from([0, -1, 1, 0.0, -0.0, 1e308, -1e308, 2**63, math.nan, math.inf, -math.inf, "", "fast", [],
                         {}, None, True, False, [0], [None], {"name": 1}, "../../etc/passwd", "\x00", 10**30])


def paths_of(value, prefix: tuple = (), depth: int = 0) -> list[tuple]:
    """Every place in a row (first items of long lists only)."""
    out = [prefix]
    if depth < 5 and isinstance(value, dict):
        for key, item in value.items():
            out += paths_of(item, (*prefix, key), depth + 1)
    elif depth < 5 and isinstance(value, list):
        for i, item in enumerate(value[:2]):
            out += paths_of(item, (*prefix, i), depth + 1)
    return out


@st.composite
def bad_line(draw, seeds: list[dict]) -> str | bytes:
    """A seed row with one place replaced or deleted, or a line of anything."""
    kind = draw(st.sampled_from(["edit", "edit", "edit", "delete", "schema", "raw", "json"]))
    if kind == "raw":
        return draw(st.binary(max_size=40)).replace(b"\n", b" ").replace(b"\r", b" ")
    if kind == "json":
        return json.dumps(draw(JSON))
    row = copy.deepcopy(draw(st.sampled_from(seeds)))
    if kind == "schema":
        row["schema"] = draw(st.integers(2, 9))
        return json.dumps(row)
    path = draw(st.sampled_from(paths_of(row)[1:]))
    node = row
    for key in path[:-1]:
        node = node[key]
    if kind == "delete":
        del node[path[-1]]
    else:
        node[path[-1]] = draw(SHARP | JSON)
    return json.dumps(row)


def counted(path: Path) -> int | None:
    """How many lines of ``path`` a reader must skip (the validator as the oracle of which); None when
    a row of a newer schema refuses the whole file."""
    from edgeprof.results.store import Skipped, read_rows

    skipped = Skipped()
    try:
        for _ in read_rows(path, skipped=skipped):
            pass
    except EdgeprofError:
        return None
    return len(skipped)


def check_one_line_or_counted(result, n_bad: int | None) -> None:
    """Exit 1 with one line "Error: ..." (always, for a newer schema), or exit 0 with the skipped lines
    counted in one note."""
    assert_no_traceback(result)
    if result.exit_code != 0 or n_bad is None:
        assert result.exit_code == 1 and result.output.startswith("Error: "), result.output
        assert result.output.count("\n") == 1, result.output
        return
    notes = [line for line in result.output.splitlines() if line.startswith("note: skipped")]
    assert len(notes) == (1 if n_bad else 0), result.output
    if n_bad:
        assert notes[0].startswith(f"note: skipped {n_bad} result row(s)"), notes[0][:200]


FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@FAST
@given(data=st.data())
def test_random_rows_reach_the_report_and_exports_as_valid_rows_only(data, tmp_path):
    """Many examples, without drawing figures: every reader of rows (leaderboard, advice, tables, paired
    tests, the bench's printed tables and exports) on what survives validation."""
    from edgeprof.plot.document import to_html, to_markdown
    from edgeprof.plot.leaderboard import Budget
    from edgeprof.plot.report import build
    from edgeprof.results import export

    seeds = demo_rows()
    lines = [json.dumps(r) for r in seeds]
    for _ in range(data.draw(st.integers(1, 4))):
        lines.insert(data.draw(st.integers(0, len(lines))), data.draw(bad_line(seeds)))
    folder = write_lines(tmp_path / f"r{data.draw(st.integers(0, 10**9))}", lines)
    shutil.copytree(DEMO / "tasks", folder / "tasks", dirs_exist_ok=True)
    try:
        results = load_results([folder])
    except EdgeprofError as exc:
        assert "\n" not in str(exc)
        return
    doc = build(results, [], Budget(max_kld=data.draw(st.sampled_from([None, 0.05])),
                                    min_acc=data.draw(st.sampled_from([None, 0.3]))))
    to_markdown(doc, folder)
    to_html(doc)
    rows = results.rows
    for printer in (export.table, export.to_csv, export.to_markdown, export.to_json, export.to_llama_bench):
        printer([r for r in rows if r.get("kind", "speed") == "speed"])
    export.task_table([r for r in rows if r.get("kind") == "task"])
    export.ppl_table([r for r in rows if r.get("kind") == "perplexity"])


CLI = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])


@CLI
@given(data=st.data())
def test_random_rows_fed_to_plot_report_and_a_resumed_bench(data, q4, measured, tmp_path):
    demo = demo_rows()
    seeds = [json.loads(line) for line in measured] + [next(r for r in demo if r["kind"] == kind)
                                                       for kind in ("speed", "task", "perplexity")]
    lines: list[str | bytes] = list(measured)
    bad = [data.draw(bad_line(seeds)) for _ in range(data.draw(st.integers(1, 3)))]
    for line in bad:
        lines.insert(data.draw(st.integers(0, len(lines))), line)
    folder = write_lines(tmp_path / f"r{data.draw(st.integers(0, 10**9))}", lines)
    n_bad = counted(folder / "bench.jsonl")
    for args in (["plot", "--results", folder, "--out", folder / "figures"],
                 ["report", "--results", folder, "--out", folder / "report"],
                 ["bench", q4, *BENCH, "-t", "1,2", "--results", folder]):
        check_one_line_or_counted(run(*args), n_bad)
