"""Quantization levels, named as llama.cpp names them (Q4_K_M, Q8_0, IQ4_XS, ...).

The names come from the installed llama.cpp's own file-type enum (``LLAMA_FTYPE_*`` in
llama-cpp-python), so every level that build offers is available with no list to keep up to date.
"""

from __future__ import annotations

from functools import lru_cache

from edgeprof.errors import did_you_mean, fail

# llama-quantize accepts these short forms too.
ALIASES = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M"}

# llama.cpp refuses these without an importance matrix (llama-quant.cpp checks it per tensor;
# IQ3_XS/IQ3_XXS put some tensors in IQ2_S). Measured with llama-cpp-python 0.3.36.
# `convert --imatrix CORPUS` computes one and makes them available.
NEEDS_IMATRIX = frozenset({"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "Q2_K_S", "IQ3_XS", "IQ3_XXS"})

# File types llama.cpp can read but its quantizer rejects ("invalid output file type").
NOT_A_TARGET = frozenset({"NVFP4"})

# The unquantized output types `convert` writes itself (the rest go through llama.cpp).
UNQUANTIZED = {"F32": 0, "F16": 1, "BF16": 32}
# --outtype: the unquantized file type; auto keeps the source's own 16-bit type
OUTTYPE_CHOICES = ("auto", *(name.lower() for name in ("F16", "BF16", "F32")))


@lru_cache(maxsize=1)
def all_levels() -> dict[str, int]:
    """Level name -> llama_ftype id, for every file type the installed llama.cpp knows."""
    import llama_cpp

    levels = {}
    for attr in dir(llama_cpp):
        if not attr.startswith("LLAMA_FTYPE_") or attr == "LLAMA_FTYPE_GUESSED":
            continue
        name = attr.removeprefix("LLAMA_FTYPE_")
        name = "F32" if name == "ALL_F32" else name.removeprefix("MOSTLY_")
        levels[name] = int(getattr(llama_cpp, attr))
    return dict(sorted(levels.items(), key=lambda kv: kv[1]))


def canonical_level(name: str, with_imatrix: bool = False) -> str:
    """The canonical level name for ``name`` (case-insensitive, aliases allowed), or an error.
    ``with_imatrix``: an importance matrix will be given, so the levels that need one are allowed."""
    upper = name.strip().upper()
    upper = ALIASES.get(upper, upper)
    if upper in all_levels():
        if upper in NEEDS_IMATRIX and not with_imatrix:
            raise fail("level_needs_imatrix", name=upper)
        if upper in NOT_A_TARGET:
            raise fail("level_not_in_llama", name=upper, version=_llama_version())
        return upper
    raise fail("unknown_level", name=name, hint=did_you_mean(name, all_levels()))


def parse_list(text: str, option: str = "--quant", with_imatrix: bool = False) -> list[str]:
    """'q4_k_m, Q8_0' -> ['Q4_K_M', 'Q8_0'] (order kept, duplicates dropped); a list naming no level
    (``,`` or blanks) is refused, never taken as "no levels"."""
    names = [canonical_level(part, with_imatrix) for part in text.split(",") if part.strip()]
    if not names:
        raise fail("no_levels", option=option, value=text)
    return list(dict.fromkeys(names))


def ftype_of(name: str) -> int:
    return all_levels()[name]


def name_of_ftype(ftype: int) -> str:
    for name, value in all_levels().items():
        if value == ftype:
            return name
    return f"ftype{ftype}"


def usable_levels(with_imatrix: bool = False) -> list[str]:
    """Levels `convert` can produce (accepted by the quantizer; those needing an importance matrix
    only ``with_imatrix``)."""
    return [n for n in all_levels() if (with_imatrix or n not in NEEDS_IMATRIX) and n not in NOT_A_TARGET]


def _llama_version() -> str:
    from edgeprof.llamacpp import version

    return version()
