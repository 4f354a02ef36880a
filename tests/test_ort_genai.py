"""The onnxruntime-genai runtime: picked by auto, same prompt and greedy text as transformers, safe fallback."""

from __future__ import annotations

import importlib.util
import logging

import pytest

from kb.backends.registry import pick_runtime
from kb.backends.sources import LLMSource
from kb.errors import ModelNotFound

needs_genai = pytest.mark.skipif(importlib.util.find_spec("onnxruntime_genai") is None,
                                 reason="onnxruntime-genai not installed")


def test_auto_picks_onnx_genai_for_a_model_on_disk(settings, monkeypatch, tmp_path):
    import kb.backends.registry as registry

    settings = settings.model_copy(update={"llm_runtime": "auto"})
    gguf = LLMSource(str(tmp_path), "m.gguf")
    monkeypatch.setattr(registry, "llama_cpp_available", lambda: False)
    monkeypatch.setattr(registry, "onnx_genai_available", lambda: True)
    assert pick_runtime(settings, gguf) == "onnx-genai"
    assert pick_runtime(settings, LLMSource(str(tmp_path))) == "onnx-genai"  # a local HF folder
    assert pick_runtime(settings, LLMSource("HuggingFaceTB/not-on-disk")) == "transformers"
    monkeypatch.setattr(registry, "llama_cpp_available", lambda: True)
    assert pick_runtime(settings, gguf) == "llama-cpp"  # `make speedup` is an explicit choice
    monkeypatch.setattr(registry, "onnx_genai_available", lambda: False)
    monkeypatch.setattr(registry, "llama_cpp_available", lambda: False)
    assert pick_runtime(settings, gguf) == "transformers"
    with pytest.raises(ModelNotFound, match="pip install onnxruntime-genai"):
        pick_runtime(settings.model_copy(update={"llm_runtime": "onnx-genai"}), gguf)


def test_a_failed_export_falls_back_to_transformers_and_is_remembered(settings, monkeypatch, tmp_path, caplog):
    """A builder that fails (or a check generate that crashes) leaves no model; auto answers with transformers."""
    import kb.backends.registry as registry
    import kb.backends.transformers_llm
    from kb.backends import onnx_genai

    hf = tmp_path / "hf-model"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    calls = []

    def broken_run(cmd, what, timeout):
        calls.append(what)
        raise onnx_genai.ExportFailed(f"{what} failed (killed by signal 4): Illegal instruction")

    monkeypatch.setattr(onnx_genai, "_run", broken_run)
    monkeypatch.setattr(registry, "onnx_genai_available", lambda: True)
    monkeypatch.setattr(registry, "llama_cpp_available", lambda: False)
    monkeypatch.setattr(kb.backends.transformers_llm, "load", lambda s: "transformers runtime")
    auto = settings.model_copy(update={"llm_model": str(hf), "llm_runtime": "auto", "cache_dir": tmp_path / "c"})
    with caplog.at_level(logging.WARNING, logger="kb.backends.registry"):
        assert registry.load_llm(auto) == "transformers runtime"
    assert "Illegal instruction" in caplog.text and "transformers runtime instead" in caplog.text
    assert len(calls) == 1
    assert not list((tmp_path / "c" / "models").glob("*genai*/model.onnx"))
    assert registry.load_llm(auto) == "transformers runtime"
    assert len(calls) == 1, "the failure is remembered: later processes do not rebuild"
    with pytest.raises(ModelNotFound, match="KB_LLM_RUNTIME=transformers"):
        registry.load_llm(auto.model_copy(update={"llm_runtime": "onnx-genai"}))
    with pytest.raises(ModelNotFound):
        onnx_genai.export_folder(auto, LLMSource(str(hf)), retry=True)
    assert len(calls) == 2, "kb prepare (retry=True) tries again"


@needs_genai
@pytest.mark.llm
def test_prepare_exports_once_and_auto_answers_with_onnx_genai(settings):
    from kb.backends.onnx_genai import OrtGenaiLLM
    from kb.prepare import prepare

    lines: list[str] = []
    report = prepare(settings, echo=lines.append)
    assert report.llm_runtime == "onnx-genai", lines
    assert all(s.status in ("done", "cached") for s in report.steps), report.steps
    assert any("ONNX int4" in line for line in lines)
    again = prepare(settings)
    assert all(s.seconds < 10 for s in again.steps), again.steps  # cached: nothing is converted twice

    from kb.backends import load_llm

    llm = load_llm(settings)
    assert isinstance(llm, OrtGenaiLLM)
    messages = [{"role": "user", "content": "Passages:\n[1] A base model is a pretrained model that has not "
                 "been instruction tuned.\n\nQuestion: what is a base model?\nAnswer:"}]
    first, n = llm.chat(messages, 24)
    assert first and 0 < n <= 24
    assert llm.chat(messages, 24)[0] == first, "greedy decoding must not depend on the previous call"


@needs_genai
@pytest.mark.llm
def test_onnx_genai_sends_the_same_prompt_and_greedy_text_as_transformers(settings):
    """Same chat template, same token ids, same greedy answer to a short question.

    Not the same text for every prompt: transformers runs the GGUF's Q4_1 weights
    dequantized to fp32, onnx-genai re-quantizes them to int4 (symmetric, block 32)
    and computes with int8 activations, so on longer passages the two greedy drafts
    can part after a few tokens. The eval compares their quality (docs/bench-speed.md).
    """
    from kb.backends import load_llm

    ref = load_llm(settings.model_copy(update={"llm_runtime": "transformers"}))
    fast = load_llm(settings.model_copy(update={"llm_runtime": "onnx-genai"}))
    messages = [{"role": "user", "content": "What is the capital of France?"}]  # the template adds its system line
    text = ref.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert fast.prompt_ids(messages) == ref.tokenizer(text)["input_ids"]
    want, n_want = ref.chat(messages, 16)
    got, n_got = fast.chat(messages, 16)
    assert (got, n_got) == (want, n_want) == ("The capital of France is Paris.", 8)


@needs_genai
def test_onnx_genai_shows_its_draft_at_each_sentence_end(settings):
    """chat(..., on_text=) returns the same completion and hands over the text so far at sentence ends
    (kb.engine verifies those sentences while the model writes)."""
    from kb.backends import load_llm

    llm = load_llm(settings.model_copy(update={"llm_runtime": "onnx-genai"}))
    assert llm.streams is True
    messages = [{"role": "user", "content": "Name two colours of the sky. Answer in two sentences."}]
    seen: list[str] = []
    got = llm.chat(messages, 40, on_text=seen.append)
    assert got == llm.chat(messages, 40)
    assert seen and all(got[0].startswith(s.strip()) for s in seen)
    assert all(s.rstrip()[-1:] in ".!?" or s.endswith("\n") for s in seen), seen
