"""`bench --tasks X --chat`: task prompts through the model's own chat template (OpenCompass's chat
models), zero- and few-shot, checked against llama.cpp's own template code on the demo model, and
the rows it records (chat: true, the template used, a key of its own)."""

from __future__ import annotations

import ctypes
import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner
from llama_helpers import load as llama_load

from edgeprof import llamacpp
from edgeprof.bench.chat import ChatFormat, template_of
from edgeprof.bench.engine import Context, ContextSettings, Model
from edgeprof.bench.quality.loglik import log_softmax
from edgeprof.bench.tasks import prompts, score
from edgeprof.bench.tasks.data import load
from edgeprof.bench.tasks.definition import load_task
from edgeprof.bench.tasks.examples import sample
from edgeprof.cli.main import cli
from edgeprof.model_file import open_model_file
from edgeprof.quantize.demo import demo_gguf_path
from edgeprof.results.read import load_results

pytestmark = pytest.mark.demo

# SmolLM2-135M-Instruct's template opens a conversation that has no system turn with this one.
SMOLLM_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@pytest.fixture(scope="module")
def demo():
    llamacpp.init(False)
    model = Model(demo_gguf_path())
    yield model
    model.close()


def llama_cpp_chat(model: Model, messages: list[dict], template: str | None = "gguf") -> str:
    """llama.cpp's own chat formatting (llama_chat_apply_template, C++, no Jinja) of ``messages``."""
    import llama_cpp

    tmpl = llama_cpp.llama_model_chat_template(model.ptr, None) if template == "gguf" else None
    chat = (llama_cpp.llama_chat_message * len(messages))(
        *[llama_cpp.llama_chat_message(role=m["role"].encode(), content=m["content"].encode()) for m in messages])
    buf = ctypes.create_string_buffer(1 << 16)
    n = llama_cpp.llama_chat_apply_template(tmpl, chat, len(messages), True, buf, len(buf))
    assert 0 < n < len(buf)
    return buf.raw[:n].decode()


def few_shot_question(task_name: str, shots: int, seed: int = 5):
    task = load_task(task_name)
    data = load(task)
    example = sample(data.test.examples, 1, seed)[0]
    chosen = prompts.choose_shots(data.test.examples, example, shots, True)
    assert len(chosen) == shots
    return prompts.for_chat(task), example, chosen


@pytest.mark.parametrize("shots", [0, 2])
def test_task_prompt_is_the_conversation_llama_cpp_writes(demo, shots):
    task, example, chosen = few_shot_question("mmlu", shots)
    fmt = ChatFormat(demo)
    ours = prompts.build(task, example, chosen, fmt.prompt)
    messages = prompts.turns(task, example, chosen)
    assert [m["role"] for m in messages] == ["user", "assistant"] * shots + ["user"]
    assert messages[-1]["content"].endswith("Answer:")  # the question, as the plain prompt asks it
    assert all(len(m["content"]) == 1 for m in messages[1::2])  # each shot answered by its gold letter
    # the model's template adds its default system turn; llama.cpp's chatml is given it explicitly
    theirs = llama_cpp_chat(demo, [{"role": "system", "content": SMOLLM_SYSTEM}, *messages])
    assert ours == theirs
    assert ours.endswith("<|im_start|>assistant\n")
    assert ours.count("<|im_start|>user\n") == shots + 1


def test_given_system_turn_and_builtin_format_match_llama_cpp(demo):
    task, example, chosen = few_shot_question("hellaswag", 1)
    messages = [{"role": "system", "content": "Finish the sentence."}, *prompts.turns(task, example, chosen)]
    fmt = ChatFormat(demo)
    assert fmt.render(messages) == llama_cpp_chat(demo, messages)
    fmt.text = None  # as for a GGUF without a template: llama.cpp's built-in formats
    assert fmt.render(messages) == llama_cpp_chat(demo, messages, template=None) == llama_cpp_chat(demo, messages)
    assert template_of({}).as_row() == {"source": "llama.cpp built-in", "name": "chatml"}


def test_choices_are_scored_after_the_assistant_turn(demo):
    """Each choice is the assistant's reply: no leading space, its log-likelihood right after
    '<|im_start|>assistant\\n'. Checked against llama-cpp-python's high-level Llama evaluating
    llama.cpp's own rendering of the conversation plus each choice afresh."""
    task = prompts.for_chat(load_task("hellaswag"))
    assert task.prompt.continuation == "{choice}"
    data = load(task)
    examples = sample(data.test.examples, 1, seed=11)
    ours: list[dict] = []
    ctx = Context(demo, ContextSettings(n_ctx=512, n_batch=512, n_ubatch=512, n_threads=2, n_seq_max=5,
                                        flash_attn=False))
    with ctx:
        score.score_examples(ctx, task, examples, data.test.examples, 0, True, ours.append, ChatFormat(demo).prompt)
    llm = llama_load(demo_gguf_path(), n_ctx=512)
    try:
        for example, outcome in zip(examples, ours):
            messages = [{"role": "system", "content": SMOLLM_SYSTEM}, *prompts.turns(task, example, [])]
            theirs = _logprobs(llm, llama_cpp_chat(demo, messages), prompts.continuations_of(task.prompt, example))
            assert outcome["pred"] == int(np.argmax(theirs)), example.id
            # the demo model's logits move by up to ~0.2 nats with the batch shape (test_task_scoring)
            assert max(abs(a - b) for a, b in zip(outcome["logprobs"], theirs)) < 0.5
    finally:
        llm.close()


def _logprobs(llm, context: str, continuations: list[str]) -> list[float]:
    prefix = llm.tokenize(context.encode(), add_bos=True, special=True)
    assert prefix[-2:] == llm.tokenize(b"assistant\n", add_bos=False, special=True)[-2:]
    out = []
    for continuation in continuations:
        tokens = llm.tokenize(continuation.encode(), add_bos=False, special=True)
        whole = llm.tokenize((context + continuation).encode(), add_bos=True, special=True)
        assert whole == prefix + tokens  # the reply starts a fresh line: no merge across the boundary
        llm.reset()
        llm.eval(whole)
        lp = log_softmax(np.array(llm.scores[:len(whole)], dtype=np.float64))
        out.append(float(sum(lp[len(prefix) + i - 1, t] for i, t in enumerate(tokens))))
    return out


def test_chat_rows_record_the_template_and_are_their_own_cells(tmp_path):
    path = demo_gguf_path()
    args = ["bench", str(path), "--tasks", "hellaswag", "--limit", "2", "--no-speed", "--no-progress",
            "--results", str(tmp_path / "r"), "-t", "2"]
    runner = CliRunner()
    for extra in ([], ["--chat"], ["--chat"]):  # the third run finds its cell done
        result = runner.invoke(cli, args + extra)
        assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "r" / "bench.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    plain, chat = rows
    assert plain["task"]["chat"] is False and "chat_template" not in plain["task"]
    assert chat["task"]["chat"] is True
    text = open_model_file(path).metadata["tokenizer.chat_template"]  # the GGUF's own template
    assert chat["task"]["chat_template"] == {"source": "gguf", "sha256": hashlib.sha256(text.encode()).hexdigest()}
    assert plain["cell"] != chat["cell"]
    assert plain["metrics"]["n"] == chat["metrics"]["n"] == 2
    assert plain["metrics"]["acc_stderr"] is not None and chat["metrics"]["acc_stderr"] is not None
    assert len(load_results([tmp_path / "r"]).of_kind("task")) == 2  # neither replaces the other
