"""llama.cpp through llama-cpp-python's low-level API: load a model, make contexts, decode batches.

Why low-level: the high-level ``Llama`` streaming API under-reports decode speed by 15-25% and
reuses its prompt cache between calls (DESIGN.md). Here a decode is exactly ``llama_decode`` +
``llama_synchronize`` between two ``perf_counter_ns`` reads; batches are filled before the clock
starts.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgeprof import llamacpp
from edgeprof.bench.cache_types import ggml_type
from edgeprof.bench.load_modes import LOAD_MODES
from edgeprof.errors import fail
from edgeprof.model_file import ModelFile

llamacpp.preload()  # libllama before numpy: see llamacpp.preload

import numpy as np  # noqa: E402 - must come after llamacpp.preload() above

ALL_LAYERS = -1  # llama.cpp: n_gpu_layers < 0 offloads every layer


@dataclass(frozen=True)
class ContextSettings:
    n_ctx: int = field(default=4096, metadata={"help": "context size (tokens)"})
    n_batch: int = field(default=2048, metadata={"help": "logical batch: prompt chunk per llama_decode"})
    n_ubatch: int = field(default=512, metadata={"help": "physical batch llama.cpp computes at once"})
    n_threads: int = field(default=4, metadata={"help": "CPU threads for decode and prefill"})
    flash_attn: bool | None = field(default=None, metadata={"help": "flash attention on/off; None: auto"})
    type_k: str = field(default="f16", metadata={"help": "KV cache type for K"})
    type_v: str = field(default="f16", metadata={"help": "KV cache type for V"})
    n_seq_max: int = field(default=1, metadata={"help": "sequences (scoring copies a shared prefix to seq 1)"})




class Model:
    """A loaded model; ``load_seconds`` is the wall time of llama_model_load_from_file."""

    def __init__(self, source: Path | ModelFile, n_gpu_layers: int = 0, load_mode: str = "auto"):
        """``source``: a ModelFile (its header was checked when it was opened) or a path (checked here:
        llama.cpp would crash on some malformed files rather than refuse them)."""
        import llama_cpp

        from edgeprof.gguf_check import check_loadable

        path = source.path if isinstance(source, ModelFile) else Path(source)
        if not isinstance(source, ModelFile):
            check_loadable(path)
        llamacpp.init()
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        params.load_mode = LOAD_MODES[load_mode]
        started = time.perf_counter_ns()
        self.ptr = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        self.load_seconds = (time.perf_counter_ns() - started) / 1e9
        if not self.ptr:
            detail = llamacpp.recent_errors[-1] if llamacpp.recent_errors else "llama.cpp could not load it"
            raise fail("model_load_failed", path=path, detail=detail)
        self.path = path
        self.n_gpu_layers = n_gpu_layers
        self.vocab = llama_cpp.llama_model_get_vocab(self.ptr)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.n_layer = llama_cpp.llama_model_n_layer(self.ptr)
        self.size_bytes = llama_cpp.llama_model_size(self.ptr)
        self.n_params = llama_cpp.llama_model_n_params(self.ptr)

    def description(self) -> str:
        import llama_cpp

        buf = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(self.ptr, buf, len(buf))
        return buf.value.decode(errors="replace")

    def meta(self, key: str) -> str | None:
        import llama_cpp

        buf = ctypes.create_string_buffer(65536)
        n = llama_cpp.llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        return buf.value.decode(errors="replace") if n >= 0 else None

    def is_eog(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        import llama_cpp

        raw = text.encode("utf-8")
        buf = (llama_cpp.llama_token * (len(raw) + 16))()
        n = llama_cpp.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), add_special, True)
        if n < 0:
            buf = (llama_cpp.llama_token * -n)()
            n = llama_cpp.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), add_special, True)
        return list(buf[:n])

    def bos(self) -> int | None:
        """The BOS token when this model's tokenizer adds one (llama-perplexity starts windows with it)."""
        import llama_cpp

        if not llama_cpp.llama_vocab_get_add_bos(self.vocab):
            return None
        return int(llama_cpp.llama_vocab_bos(self.vocab))

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (special tokens rendered as text)."""
        import llama_cpp

        buf = ctypes.create_string_buffer(128)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, True)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, True)
        return buf.raw[:n]

    def close(self) -> None:
        import llama_cpp

        if self.ptr:
            llama_cpp.llama_model_free(self.ptr)
            self.ptr = None

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Context:
    """A llama.cpp context with one reusable batch; every decode is timed in nanoseconds."""

    def __init__(self, model: Model, settings: ContextSettings):
        import llama_cpp

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = settings.n_ctx
        params.n_batch = settings.n_batch
        params.n_ubatch = settings.n_ubatch
        params.n_threads = settings.n_threads
        params.n_threads_batch = settings.n_threads
        params.type_k = ggml_type(settings.type_k)
        params.type_v = ggml_type(settings.type_v)
        params.no_perf = True
        params.n_seq_max = settings.n_seq_max
        params.kv_unified = settings.n_seq_max > 1  # one KV buffer: copying a sequence only retags cells
        params.flash_attn_type = {None: llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO,
                                  True: llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
                                  False: llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED}[settings.flash_attn]
        self.ptr = llama_cpp.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            detail = llamacpp.recent_errors[-1] if llamacpp.recent_errors else "llama.cpp could not create it"
            raise fail("context_failed", path=model.path, detail=detail)
        self.model = model
        self.settings = settings
        self.batch = llama_cpp.llama_batch_init(settings.n_batch, 0, 1)
        self._decode = llama_cpp.llama_decode
        self._sync = llama_cpp.llama_synchronize
        self._logits = llama_cpp.llama_get_logits_ith
        self.memory = llama_cpp.llama_get_memory(self.ptr)
        from edgeprof.bench.threadpool import Threadpool

        self.threadpool = Threadpool(self.ptr, settings.n_threads)

    def clear(self) -> None:
        """Empty the KV cache (llama-bench does this before every repetition)."""
        import llama_cpp

        llama_cpp.llama_memory_clear(self.memory, True)

    def _put(self, i: int, token: int, pos: int, seq: int, logits: bool) -> None:
        b = self.batch
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq
        b.logits[i] = logits

    def _fill(self, tokens, start_pos: int, want_logits: bool, all_logits: bool, seq: int) -> None:
        n = len(tokens)
        for i, token in enumerate(tokens):
            self._put(i, token, start_pos + i, seq, all_logits)
        if want_logits:
            self.batch.logits[n - 1] = 1
        self.batch.n_tokens = n

    def decode(self, tokens, start_pos: int, want_logits: bool = True, all_logits: bool = False,
               seq: int = 0) -> int:
        """Decode ``tokens`` (at most n_batch) at ``start_pos``; returns the nanoseconds it took."""
        self._fill(tokens, start_pos, want_logits, all_logits, seq)
        return self._timed_decode(start_pos)

    def decode_sequences(self, parts: list[tuple[list[int], int, int]]) -> int:
        """Several sequences in one llama_decode, every token with logits: ``(tokens, start_pos, seq)``
        each, at most n_batch tokens in all. Logits come back in the order of ``parts``."""
        i = 0
        for tokens, start, seq in parts:
            for j, token in enumerate(tokens):
                self._put(i, token, start + j, seq, True)
                i += 1
        self.batch.n_tokens = i
        return self._timed_decode(parts[0][1] if parts else 0)

    def drop(self, seq: int, from_pos: int = -1) -> None:
        """Forget ``seq``'s cached tokens at positions >= ``from_pos`` (all of them by default)."""
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self.memory, seq, from_pos, -1)

    def decode_one(self, token: int, pos: int) -> int:
        """The per-token step: one token in, logits out; nothing but decode and the clock is timed."""
        b = self.batch
        b.token[0] = token
        b.pos[0] = pos
        b.n_seq_id[0] = 1
        b.seq_id[0][0] = 0
        b.logits[0] = 1
        b.n_tokens = 1
        return self._timed_decode(pos)

    def _timed_decode(self, pos: int) -> int:
        """The only timed region: llama_decode + llama_synchronize between two clock reads."""
        clock = time.perf_counter_ns
        started = clock()
        code = self._decode(self.ptr, self.batch)
        self._sync(self.ptr)
        elapsed = clock() - started
        if code != 0:
            raise fail("decode_failed", path=self.model.path, code=code, pos=pos)
        return elapsed

    def prefill(self, tokens: list[int], start_pos: int = 0, want_logits: bool = True) -> int:
        """Decode a prompt in n_batch chunks (as llama-bench); returns total nanoseconds."""
        total = 0
        step = self.settings.n_batch
        for begin in range(0, len(tokens), step):
            chunk = tokens[begin:begin + step]
            last = begin + step >= len(tokens)
            total += self.decode(chunk, start_pos + begin, want_logits and last)
        return total

    def logits(self) -> np.ndarray:
        """The last decoded token's logits (a view, valid until the next decode)."""
        return np.ctypeslib.as_array(self._logits(self.ptr, -1), shape=(self.model.n_vocab,))

    def argmax_at(self, i: int) -> int:
        """Greedy choice from output ``i`` of the last decode (batch order)."""
        return int(np.argmax(np.ctypeslib.as_array(self._logits(self.ptr, i), shape=(self.model.n_vocab,))))

    def all_logits(self, n_outputs: int) -> np.ndarray:
        """Logits of every output of the last decode, in batch order (a view: copy to keep)."""
        import llama_cpp

        return np.ctypeslib.as_array(llama_cpp.llama_get_logits(self.ptr), shape=(n_outputs, self.model.n_vocab))

    def copy_sequence(self, source: int, dest: int) -> None:
        """Make ``dest`` share ``source``'s cached tokens (after dropping whatever ``dest`` held)."""
        import llama_cpp

        self.drop(dest)
        llama_cpp.llama_memory_seq_cp(self.memory, source, dest, -1, -1)

    def close(self) -> None:
        import llama_cpp

        if self.ptr:
            self.threadpool.close()
            llama_cpp.llama_batch_free(self.batch)
            llama_cpp.llama_free(self.ptr)
            self.ptr = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
