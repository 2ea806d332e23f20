"""`edgeprof fleet`: one suite on every board of an Ansible inventory, the results brought home and drawn
into one cross-device report.

Here, before Ansible runs: a wheel of this edgeprof (plus any wheelhouse the user gives), the models
marked `fleet = "copy"` converted once and a models.toml for the boards pointing at those files, the
suite file and its corpus. Ansible then installs, copies, runs `edgeprof run` and fetches, in parallel
(edgeprof/fleet). Afterwards each board's results replace its folder under OUT/<device>/ and the report
covers every device there. Rerunning continues: files already on a board are not copied again, the
install is skipped when the version matches, and `edgeprof run` on the board resumes where it stopped."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgeprof.progress import Say


@dataclass(frozen=True)
class FleetOptions:
    inventory: Path = field(metadata={"help": "an Ansible inventory (INI, YAML or a folder)"})
    models_file: Path = field(default=Path("models.toml"), metadata={"help": "the models.toml to run"})
    out: Path = field(default=Path("fleet"), metadata={"help": "results per device, report, logs, bundle"})
    suite: str | None = field(default=None, metadata={"help": "bench suite instead of the models file's"})
    limit: str | None = field(default=None, metadata={"help": "only these groups or hosts (Ansible --limit)"})
    wheelhouse: Path | None = field(default=None, metadata={
        "help": "a folder of wheels copied to every board and preferred there (a prebuilt llama-cpp-python)"})
    offline: bool = field(default=False, metadata={"help": "boards install from the wheels only (no index)"})
    forward_hf_token: bool = field(default=False, metadata={"help": "give boards this HF_TOKEN (never recorded)"})
    timeout: int | None = field(default=None, metadata={"help": "seconds `edgeprof run` may take per board"})
    forks: int = field(default=10, metadata={"help": "boards worked on at once"})
    image_format: str = field(default="png", metadata={"help": "figure format: png or svg"})
    progress: bool = field(default=True, metadata={"help": "progress bars while converting here"})


@dataclass(frozen=True)
class FleetOutcome:
    hosts: tuple = field(metadata={"help": "one HostOutcome per board"})
    devices: tuple[str, ...] = field(metadata={"help": "device folders with results under out"})
    report_html: Path | None = field(metadata={"help": "the cross-device report (None: no results yet)"})
    logs: Path = field(metadata={"help": "folder of per-host logs"})
    seconds: float = field(metadata={"help": "wall time"})


def run_fleet(options: FleetOptions, say: Say) -> FleetOutcome:
    from edgeprof.bench.suite import load_suite
    from edgeprof.fleet.engine import PlaybookInputs, run_playbook
    from edgeprof.fleet.inventory import read_inventory
    from edgeprof.workflow.models_file import load_models_file

    started = time.perf_counter()
    hosts = read_inventory(options.inventory, options.limit)
    models = load_models_file(options.models_file)
    suite = load_suite(options.suite or models.suite, options.models_file.parent)
    say(f"fleet: {len(hosts)} board(s): {', '.join(f'{h.name} ({h.device})' for h in hosts)}; suite {suite.name}")
    bundle = options.out / "bundle"
    version = _wheels(bundle / "wheels", options.wheelhouse, say)
    run_args = _work(bundle / "work", models, suite, options, say)
    for name in ("wheels", "work"):
        _pack(bundle / name, bundle / f"{name}.tar")
    inputs = PlaybookInputs(options.inventory, bundle, version, tuple(run_args), options.out / "incoming",
                            options.out / "logs", options.limit, options.forks, options.offline,
                            options.forward_hf_token)
    say(f"== ansible: install edgeprof {version}, copy, run, fetch (logs in {inputs.logs})")
    outcomes = run_playbook(inputs, [h.name for h in hosts], _timeout_vars(options), say)
    devices = _merge(inputs.fetch_dir, options.out, [h.name for h in hosts], say)
    report = None
    if devices:
        from edgeprof.workflow.run import draw_report

        _, report = draw_report(options.out, suite, options.image_format, say)
    return FleetOutcome(tuple(outcomes), tuple(devices), report, inputs.logs, time.perf_counter() - started)


def _timeout_vars(options: FleetOptions) -> dict:
    return {"edgeprof_timeout": options.timeout} if options.timeout else {}


def _wheels(folder: Path, wheelhouse: Path | None, say: Say) -> str:
    """This edgeprof as a wheel, beside the user's wheels; older edgeprof wheels removed (never shipped)."""
    from edgeprof.errors import fail
    from edgeprof.fleet.wheel import build_wheel

    folder.mkdir(parents=True, exist_ok=True)
    wheel, version = build_wheel(folder)
    for old in folder.glob("edgeprof-*.whl"):
        if old != wheel:
            old.unlink()
    if wheelhouse is not None:
        found = sorted(wheelhouse.glob("*.whl"))
        if not found:
            raise fail("fleet_no_wheel_files", path=wheelhouse)
        for source in found:
            if not source.name.startswith("edgeprof-") and not (folder / source.name).exists():
                shutil.copy2(source, folder / source.name)
    say(f"wheels: {wheel.name}" + (f" and {wheelhouse}" if wheelhouse else ""))
    return version


def _work(work: Path, models, suite, options: FleetOptions, say: Say) -> list[str]:
    """The boards' working folder: models.toml, the suite and its corpus, and the models converted here.
    Returns the `edgeprof run` arguments that go with it."""
    from edgeprof.paths import data_dir

    work.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in models.models:
        if spec.fleet == "copy":
            spec = _convert_here(spec, work, options, say)
        entries.append(spec)
    _write_models_toml(work / "models.toml", entries)
    if suite.path.parent == data_dir("bench") / "suites":
        return ["--suite", suite.name]
    shutil.copy2(suite.path, work / suite.path.name)
    corpus = suite.quality.corpus if suite.quality else None
    if corpus and (suite.path.parent / corpus).is_file():
        shutil.copy2(suite.path.parent / corpus, work / corpus)
    return ["--suite", suite.path.name]


def _convert_here(spec, work: Path, options: FleetOptions, say: Say):
    """Convert once here; the boards' entry then names the unquantized GGUF, and every level made from
    it here has the same source hash there, so the boards reuse the files instead of converting."""
    from edgeprof.quantize.pipeline import ConvertOptions, convert
    from edgeprof.workflow.imatrix_corpus import model_imatrix

    out_dir = work / "results" / "models"
    say(f"== convert {spec.name} here ({spec.source}), for every board")
    base = convert(spec.source, ConvertOptions(levels=(), outtype=spec.outtype, out_dir=out_dir, name=spec.name,
                                               revision=spec.revision, progress=options.progress), say)[0]
    local = replace(spec, source=str(base.path), revision=None)
    convert(local.source, ConvertOptions(levels=spec.levels, outtype=spec.outtype, out_dir=out_dir, name=spec.name,
                                         progress=options.progress, imatrix=model_imatrix(local)), say)
    if spec.imatrix and Path(spec.imatrix).is_file():  # a corpus file travels beside models.toml
        shutil.copy2(spec.imatrix, work / Path(spec.imatrix).name)
        local = replace(local, imatrix=Path(spec.imatrix).name)
    return replace(local, source=f"results/models/{base.path.name}")


def _write_models_toml(path: Path, specs) -> None:
    """models.toml for the boards (TOML strings and arrays written as JSON, which TOML reads the same)."""
    from edgeprof.atomic import atomic_write_text

    lines = ['output_dir = "results"', ""]
    for spec in specs:
        lines.append("[[models]]")
        lines += [f"name = {json.dumps(spec.name)}", f"source = {json.dumps(spec.source)}",
                  f"quant = {json.dumps(list(spec.levels))}", f"outtype = {json.dumps(spec.outtype)}"]
        if spec.revision:
            lines.append(f"revision = {json.dumps(spec.revision)}")
        if spec.imatrix:
            lines += [f"imatrix = {json.dumps(spec.imatrix)}", f"imatrix_ctx = {spec.imatrix_ctx}"]
            if spec.imatrix_chunks:
                lines.append(f"imatrix_chunks = {spec.imatrix_chunks}")
        lines.append("")
    atomic_write_text(path, "\n".join(lines))


def _pack(folder: Path, archive: Path) -> None:
    """``folder`` as a tar archive whose bytes depend on the files' content only (sorted, no times or
    owners), so an unchanged bundle is not copied to the boards again."""
    import tarfile

    from edgeprof.atomic import atomic_output

    with atomic_output(archive) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mode, info.mtime = path.stat().st_size, 0o600, 0
            with open(path, "rb") as data:
                tar.addfile(info, data)


def _merge(fetched: Path, out: Path, hosts: list[str], say: Say) -> list[str]:
    """Each board's latest results (the whole folder the board keeps) in place of the copy here."""
    import tarfile
    import tempfile

    for host in hosts:
        archive = fetched / f"{host}.tgz"
        if not archive.is_file():
            continue
        with tempfile.TemporaryDirectory(dir=out, prefix=".incoming-") as tmp, tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
            for device in sorted(p for p in Path(tmp).iterdir() if (p / "bench.jsonl").is_file()):
                _replace_folder(device, out / device.name)
                say(f"{host}: results in {out / device.name}")
    from edgeprof.workflow.run import device_folders

    return [p.name for p in device_folders(out)]


def _replace_folder(new: Path, final: Path) -> None:
    """``final`` becomes ``new``; an old copy is moved aside first and removed only after."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
