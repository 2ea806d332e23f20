"""Cold loads: what a user waits for the first time a model is loaded after a reboot, from an SD
card or eMMC, where reading the file dominates. The file's pages are dropped from the page cache
before the load (posix_fadvise DONTNEED: allowed for any file the process can read, no root). The
kernel may keep pages another process has mapped or locked, so the row records what was asked and
how many of the file's pages were still cached afterwards where that can be read."""

from __future__ import annotations

import os
from pathlib import Path


def drop_from_page_cache(path: Path) -> dict:
    """Ask the kernel to forget ``path``'s cached pages; says whether it could be asked, and why not."""
    if not hasattr(os, "posix_fadvise"):
        return {"cold": False, "why": "this OS has no posix_fadvise (macOS, Windows): the load may be warm"}
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return {"cold": False, "why": f"could not open the file: {exc.strerror}"}
    try:
        if os.access(path, os.W_OK):
            os.fsync(fd)  # dirty pages are not dropped: write them first
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError as exc:
        return {"cold": False, "why": f"posix_fadvise refused: {exc.strerror}"}
    finally:
        os.close(fd)
    cached = cached_fraction(path)
    return {"cold": True, **({"cached_fraction_after_drop": round(cached, 3)} if cached is not None else {})}


def cached_fraction(path: Path) -> float | None:
    """Share of the file's pages in the page cache (mincore over a private map of it, whose untouched
    pages are the cache's own), or None where that cannot be read."""
    import ctypes
    import mmap

    size = path.stat().st_size
    if size == 0:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        residency = (ctypes.c_ubyte * pages)()
        with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as mapped:
            start = ctypes.c_char.from_buffer(mapped)
            code = libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), ctypes.c_size_t(size), residency)
            del start  # the map cannot close while a ctypes view of it lives
        return None if code != 0 else sum(v & 1 for v in residency) / pages
    except (OSError, AttributeError, TypeError, ValueError, BufferError):
        return None
