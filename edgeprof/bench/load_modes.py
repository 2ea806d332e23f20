"""How llama.cpp reads the weights (llama-bench's -lm spellings), apart from the engine so the CLI can
check a --load-mode list without loading llama.cpp.

mmap maps the file (pages come from the page cache, read on first touch), none reads it into
allocated memory, mlock pins it in RAM, dio reads with direct I/O past the page cache; auto lets
llama.cpp choose per device. The values are llama.cpp's llama_model_params.load_mode."""

LOAD_MODES = {"auto": -1, "none": 0, "mmap": 1, "mlock": 2, "mmap+mlock": 3, "dio": 4}
