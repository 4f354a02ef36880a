"""The sentence-transformers embedder run by ONNX Runtime, without torch at query time.

`KB_EMBED_BACKEND=onnx` (fp32) or `onnx-int8` (dynamically quantized). The model
folder is exported once with torch into `cache_dir/models/<name>-onnx-<key>/` and
reused; afterwards a process needs only onnxruntime and tokenizers, which import in
a fraction of the time torch, transformers and sentence-transformers (with its
scikit-learn and scipy) take. Output matches SentenceTransformer.encode: mean
pooling over the attention mask, optional L2 normalisation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.backends.sources import _short, quiet_progress_bars, resolve_embed_model
from kb.cpu import inference_threads
from kb.errors import ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings

log = logging.getLogger(__name__)


def _key(folder: Path) -> str:
    weights = next((folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()), None)
    if weights is None:
        raise FileNotFoundError(f"no model.safetensors in {folder}")
    st = weights.stat()
    return hashlib.sha1(f"{weights.resolve()}:{st.st_size}:{int(st.st_mtime)}".encode()).hexdigest()[:16]


def export(folder: str | Path, cache_dir: Path, quantize: bool = False) -> Path:
    """The cached ONNX file for a sentence-transformers folder, exporting it on first use."""
    folder = Path(folder)
    target = cache_dir / "models" / f"{folder.parent.name}-{folder.name}-onnx-{_key(folder)}"
    fp32 = target / "model.onnx"
    # per-channel scales: one scale per weight matrix (model_int8.onnx, before) moved vectors to cosine
    # ~0.94 of fp32 on realdocs passages (min 0.81) and cost hit@3; one per output channel keeps ~0.992
    # (min 0.98) at the same speed (docs/bench-speed.md, "Ingest, evening of 2026-11-30")
    int8 = target / "model_int8c.onnx"
    if not fp32.is_file():
        _export_fp32(folder, target)
    if quantize and not int8.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = int8.with_name(f"int8.tmp{os.getpid()}.onnx")
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        tmp.replace(int8)
    return int8 if quantize else fp32


def _export_fp32(folder: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    quiet_progress_bars()

    log.info("exporting %s once to ONNX in %s", folder, target)
    target.mkdir(parents=True, exist_ok=True)
    bert = AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    model = Wrapped().eval()
    ids = torch.ones((2, 8), dtype=torch.long)
    tmp = target / f"model.tmp{os.getpid()}.onnx"
    axes = {0: "batch", 1: "tokens"}
    # the tracer warns about shape-dependent branches that the dynamic axes already cover;
    # a user running `kb ingest` for the first time should not see them
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                          "last_hidden_state": axes},
            opset_version=17, dynamo=False,
        )
    tmp.replace(target / "model.onnx")


class OnnxEmbedder:
    """Drop-in for the parts of SentenceTransformer kb uses: `encode` and `tokenizer`."""

    cuts_tokens = True  # encode(max_tokens=...) reads a prefix of each text (ingest/pipeline.py embed_texts)
    kb_backend = ""  # "onnx" or "onnx-int8", set by the loader (kb/backends/vectors.py: which vectors these are)

    def __init__(self, folder: str | Path, onnx_file: Path, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        max_len = 256
        cfg = folder / "sentence_bert_config.json"
        if cfg.is_file():
            max_len = int(json.loads(cfg.read_text()).get("max_seq_length", max_len))
        self.max_seq_length = max_len
        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.enable_truncation(max_length=max_len)
        self._tok.no_padding()
        # Each core runs whole batches of its own (one-thread session, `workers` callers): on 2 cores that
        # embedded realdocs' chunks in 0.75x the wall and 0.80x the CPU time of two threads splitting
        # every matrix product, whose hand-offs cost more than they save on 4 x 128-piece batches
        # (docs/bench-speed.md, "Ingest, 2026-11-30 late"). A session's run() is thread-safe.
        self.workers = max(1, threads or os.cpu_count() or 1)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        # No busy-waiting between ops: on a shared 2-core box spinning threads starve everything else.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_file), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.label = onnx_file.name

    def tokenizer(self, texts: list[str], add_special_tokens: bool = True) -> dict[str, list[list[int]]]:
        """Token ids per text, like a Hugging Face tokenizer call (bench/ingest.py counts them)."""
        return {"input_ids": [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=add_special_tokens)]}

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1] or 384)

    def encode(self, sentences: str | list[str], batch_size: int = 32, normalize_embeddings: bool = False,
               show_progress_bar: bool | None = None, convert_to_numpy: bool = True, max_tokens: int = 0,
               **_: Any) -> Any:
        """`max_tokens` (> 0): read at most that many word pieces of each text, [CLS] and [SEP] included
        (ingest's `ingest_max_tokens`); the text's end is cut as the model's own limit would cut it."""
        import numpy as np

        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        ids_of = [e.ids for e in self._tok.encode_batch(texts)]
        if 2 < max_tokens < self.max_seq_length:
            ids_of = [ids if len(ids) <= max_tokens else ids[:max_tokens - 1] + ids[-1:] for ids in ids_of]
        order = sorted(range(len(texts)), key=lambda i: -len(ids_of[i]))  # similar lengths pad less
        batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
        parts: dict[int, Any] = {}

        def embed(idx: list[int]) -> Any:
            return self._embed_batch(idx, ids_of, normalize_embeddings)

        if self.workers == 1 or len(batches) == 1:
            done = map(embed, batches)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(self.workers, len(batches)), thread_name_prefix="kb-embed") as pool:
                done = list(pool.map(embed, batches))
        for idx, pooled in zip(batches, done, strict=True):
            for row, i in enumerate(idx):
                parts[i] = pooled[row]
        out = np.stack([parts[i] for i in range(len(texts))]).astype(np.float32)
        return out[0] if single else out

    def _embed_batch(self, idx: list[int], ids_of: list[list[int]], normalize: bool) -> Any:
        """Mean-pooled (optionally unit) vectors of the texts `idx`, padded to the longest of them."""
        import numpy as np

        width = max(len(ids_of[i]) for i in idx)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            n = len(ids_of[i])
            ids[row, :n] = ids_of[i]
            mask[row, :n] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        if normalize:
            pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled


def load(settings: Settings) -> Any:
    """KB_EMBED_BACKEND=onnx: fp32 weights."""
    return _load_onnx_embedder(settings, resolve_embed_model(settings.embed_model), quantize=False)


def load_int8(settings: Settings) -> Any:
    """KB_EMBED_BACKEND=onnx-int8: dynamically quantized weights."""
    return _load_onnx_embedder(settings, resolve_embed_model(settings.embed_model), quantize=True)


def _load_onnx_embedder(settings: Settings, target: str, quantize: bool) -> Any:
    """ONNX Runtime without torch; the export from the local folder is cached in cache_dir."""
    from kb.backends.st_embed import _load_st_embedder

    if not Path(target).is_dir():
        raise ModelNotFound(f"KB_EMBED_BACKEND=onnx needs a local model folder, not {settings.embed_model!r} "
                            "(KB_EMBED_MODEL); use KB_EMBED_BACKEND=torch")
    try:
        embedder = OnnxEmbedder(target, export(target, settings.cache_dir, quantize=quantize),
                                threads=inference_threads(settings))
        embedder.kb_backend = "onnx-int8" if quantize else "onnx"
        return embedder
    except ImportError as exc:  # onnx/onnxscript missing for the one-time export: the torch path still works
        log.warning("ONNX embedder unavailable (%s); using sentence-transformers", _short(exc))
        st = _load_st_embedder(settings, target)
        st.kb_backend = "torch"  # its vectors are fp32 ones, whatever backend was asked for
        return st
    except Exception as exc:  # noqa: BLE001
        raise ModelNotFound(f"cannot run embedding model {settings.embed_model!r} with ONNX Runtime "
                            f"(KB_EMBED_BACKEND): {_short(exc)}") from exc
