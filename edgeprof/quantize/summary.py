"""What a conversion did, and what it can do, as text for a terminal."""

from __future__ import annotations

from edgeprof.text_table import aligned


def summary_table(files) -> str:
    """One line per GGUF file a conversion produced or reused."""
    lines = [("level", "file", "size", "bits/weight", "time")]
    for f in files:
        lines.append((f.level, str(f.path), f"{f.size_bytes / 1e6:.1f} MB", f"{f.bits_per_weight:.2f}",
                      "reused" if f.reused else f"{f.seconds:.1f} s"))
    return aligned(lines)


def describe_levels() -> str:
    from edgeprof.levels import NEEDS_IMATRIX, usable_levels
    from edgeprof.quantize.recipes import load_recipe, recipe_names

    lines = ["Levels (llama.cpp names): " + ", ".join(usable_levels()),
             "With --imatrix CORPUS also: " + ", ".join(sorted(NEEDS_IMATRIX)), "", "Recipes:"]
    for name in recipe_names():
        recipe = load_recipe(name)
        lines.append(f"  {name:8} {', '.join(recipe.levels)}"
                     + (f"  - {recipe.description}" if recipe.description else ""))
    return "\n".join(lines)
