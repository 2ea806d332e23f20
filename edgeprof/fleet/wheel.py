"""A wheel of the edgeprof running here, built without a build backend or a network, so boards get
exactly this code whether it came from a checkout (editable install) or from a wheel. Its version
carries a hash of the files (``0.1.0+g1a2b3c4d5e6f``), so a board reinstalls when the code changed and
skips the install when it did not."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from edgeprof.paths import data_dir

_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def _package_files() -> list[tuple[str, Path]]:
    """(name in the wheel, file here) for the package and its shipped data (as the wheel build maps it)."""
    import edgeprof

    package = Path(edgeprof.__file__).parent
    files = [(f"edgeprof/{p.relative_to(package).as_posix()}", p) for p in _walk(package)
             if "_data" not in p.relative_to(package).parts]
    for name in ("quantize", "bench"):
        folder = data_dir(name)
        files += [(f"edgeprof/_data/{name}/{p.relative_to(folder).as_posix()}", p) for p in _walk(folder)]
    return sorted(files)


def _walk(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not _SKIP_DIRS & set(p.parts)
            and p.suffix not in _SKIP_SUFFIXES]


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel_version(files: list[tuple[str, Path]] | None = None) -> str:
    """This code's version for the boards: the release plus a hash of every file the wheel holds."""
    from edgeprof import __version__

    h = hashlib.sha256()
    for name, path in files if files is not None else _package_files():
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__.split('+')[0]}+g{h.hexdigest()[:12]}"


def _metadata(version: str) -> tuple[str, str]:
    """METADATA and entry_points.txt of the installed distribution, with the wheel's version."""
    from importlib.metadata import distribution

    dist = distribution("edgeprof")
    lines = [f"Version: {version}" if line.startswith("Version:") else line
             for line in (dist.read_text("METADATA") or "").splitlines()]
    return "\n".join(lines) + "\n", dist.read_text("entry_points.txt") or ""


def build_wheel(out_dir: Path) -> tuple[Path, str]:
    """Write ``edgeprof-<version>-py3-none-any.whl`` into ``out_dir`` (reused when present);
    returns its path and version."""
    from edgeprof.atomic import atomic_output

    files = _package_files()
    version = wheel_version(files)
    dist_info = f"edgeprof-{version}.dist-info"
    path = out_dir / f"edgeprof-{version}-py3-none-any.whl"
    if path.exists():
        return path, version
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata, entry_points = _metadata(version)
    extra = {f"{dist_info}/METADATA": metadata.encode(), f"{dist_info}/entry_points.txt": entry_points.encode(),
             f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: edgeprof-fleet\nRoot-Is-Purelib: true\n"
                                   b"Tag: py3-none-any\n"}
    record = []
    with atomic_output(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, source in files:
            data = source.read_bytes()
            wheel.writestr(name, data)
            record.append(f"{name},{_digest(data)},{len(data)}")
        for name, data in extra.items():
            wheel.writestr(name, data)
            record.append(f"{name},{_digest(data)},{len(data)}")
        record.append(f"{dist_info}/RECORD,,")
        wheel.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return path, version
