"""Runtime choices for speed: which LLM runtime runs, dtypes, the ONNX embedder."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from kb.backends.registry import pick_runtime
from kb.backends.sources import LLMSource
from kb.errors import ModelNotFound

GGUF = LLMSource("/models", "m.gguf")
FOLDER = LLMSource("/models/hf-folder")


def test_auto_runtime_uses_llama_cpp_only_for_gguf_when_installed(settings, monkeypatch):
    import kb.backends.registry as registry

    settings = settings.model_copy(update={"llm_runtime": "auto"})
    monkeypatch.setattr(registry, "llama_cpp_available", lambda: True)
    assert pick_runtime(settings, GGUF) == "llama-cpp"
    assert pick_runtime(settings, FOLDER) == "transformers"
    monkeypatch.setattr(registry, "llama_cpp_available", lambda: False)
    assert pick_runtime(settings, GGUF) == "transformers"


def test_runtime_setting_errors_name_the_setting(settings, monkeypatch):
    import kb.backends.registry as registry

    monkeypatch.setattr(registry, "llama_cpp_available", lambda: False)
    with pytest.raises(ModelNotFound, match="make speedup"):
        pick_runtime(settings.model_copy(update={"llm_runtime": "llama-cpp"}), GGUF)
    with pytest.raises(ModelNotFound, match="needs a .gguf"):
        pick_runtime(settings.model_copy(update={"llm_runtime": "llama-cpp"}), FOLDER)
    with pytest.raises(ModelNotFound, match="KB_LLM_RUNTIME"):
        pick_runtime(settings.model_copy(update={"llm_runtime": "vllm"}), GGUF)
    assert pick_runtime(settings.model_copy(update={"llm_runtime": "transformers"}), GGUF) == "transformers"


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed "
                    "(make speedup)")
def test_llama_cpp_runtime_answers_from_the_gguf(settings):
    from kb.backends import load_llm
    from kb.backends.llama_cpp_llm import LlamaCppLLM

    llm = load_llm(settings.model_copy(update={"llm_runtime": "llama-cpp"}))
    assert isinstance(llm, LlamaCppLLM)
    messages = [{"role": "user", "content": "Passages:\n[1] A base model is a pretrained model that has not "
                 "been instruction tuned.\n\nQuestion: what is a base model?\nAnswer:"}]
    first, n = llm.chat(messages, 24)
    assert first and 0 < n <= 24
    again, _ = llm.chat(messages, 24)
    assert again == first, "greedy decoding must not depend on the previous call"


def test_bad_dtype_is_a_user_error(settings):
    from kb.backends import load_llm

    with pytest.raises(ModelNotFound, match="KB_LLM_DTYPE"):
        load_llm(settings.model_copy(update={"llm_dtype": "fp4", "llm_runtime": "transformers"}))


def test_onnx_embedder_matches_sentence_transformers(settings):
    from kb.backends import load_embedder

    embedder = load_embedder(settings.model_copy(update={"embed_backend": "torch"}))
    assert type(embedder).__name__ == "SentenceTransformer"
    onnx = load_embedder(settings.model_copy(update={"embed_backend": "onnx"}))
    assert type(onnx).__name__ == "OnnxEmbedder"
    assert type(load_embedder(settings)).__name__ == "OnnxEmbedder"  # the default for a local model folder
    texts = ["Mixture of experts (MoE) routes each token to a few expert sub-networks.", "what is DPO?",
             "word " * 400]  # longer than the model reads: truncated like sentence-transformers
    want = embedder.encode(texts, normalize_embeddings=True)
    got = onnx.encode(texts, batch_size=2, normalize_embeddings=True)
    assert got.shape == want.shape
    assert np.allclose((got * want).sum(axis=1), 1.0, atol=1e-4)
    assert np.allclose(onnx.encode(texts[1], normalize_embeddings=True), got[1], atol=1e-5)


def test_onnx_embedder_workers_give_each_text_its_own_vector(settings):
    """Two cores each run whole batches (kb/backends/onnx_embed.py): the vectors, and which text each
    belongs to, must be those of one worker, batches of mixed lengths finishing out of order included."""
    from kb.backends.onnx_embed import OnnxEmbedder, export
    from kb.backends.sources import resolve_embed_model

    folder = resolve_embed_model(settings.embed_model)
    onnx_file = export(folder, settings.cache_dir)
    texts = [f"Note {i}: " + "a router sends each token to two experts. " * (1 + (i * 7) % 13) for i in range(30)]
    one = OnnxEmbedder(folder, onnx_file, threads=1).encode(texts, batch_size=4, normalize_embeddings=True)
    two = OnnxEmbedder(folder, onnx_file, threads=2)
    assert two.workers == 2
    got = two.encode(texts, batch_size=4, normalize_embeddings=True, max_tokens=64)
    assert np.allclose(got, OnnxEmbedder(folder, onnx_file, threads=1).encode(
        texts, batch_size=4, normalize_embeddings=True, max_tokens=64), atol=1e-5)
    assert np.allclose(two.encode(texts, batch_size=4, normalize_embeddings=True), one, atol=1e-5)
    assert not np.allclose(got[0], got[1], atol=1e-3)  # different texts, different vectors


def test_unknown_embed_backend_is_a_user_error(settings):
    from kb.backends import load_embedder

    with pytest.raises(ModelNotFound, match="KB_EMBED_BACKEND"):
        load_embedder(settings.model_copy(update={"embed_backend": "tensorrt"}))


def test_ingest_reads_only_the_first_ingest_max_tokens_of_a_chunk(embedder):
    """The cap cuts like the model's own limit: two texts that differ only past it get one vector."""
    import numpy as np

    from ingest.pipeline import embed_texts

    head = "A mixture of experts model routes each token to a few expert networks chosen by a router. " * 3
    texts = [head + "The tail talks about bread and ovens.", head + "Quite another ending, about rivers and boats."]
    cut = embed_texts(embedder, texts, max_tokens=32)
    assert len(embedder.tokenizer([head])["input_ids"][0]) > 32
    assert np.allclose(cut[0], cut[1], atol=1e-6)
    whole = embed_texts(embedder, texts, max_tokens=0)
    assert not np.allclose(whole[0], whole[1], atol=1e-3)
    short = ["what is a router?"]  # shorter than the cap: the same vector as without it
    assert np.allclose(embed_texts(embedder, short, 32), embedder.encode(short, normalize_embeddings=True), atol=1e-6)
