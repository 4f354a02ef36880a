"""One typed settings object, built once at the edge and passed down.

Values come from (highest first): CLI options, `KB_*` environment variables,
`kb.toml` in the current folder (or the file named by `KB_CONFIG`), defaults.
A front end with settings of its own extends `Settings` next to its code
(bot/settings.py: `SlackSettings`) and is listed in FRONT_END_SETTINGS, so
`kb config show` and the README table include them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from kb.backends.registry import EMBED_BACKENDS, LLM_RUNTIMES
from kb.sources import SyncSource
from kb.text import is_url

# front ends' settings classes ("module:class", subclasses of Settings), imported when described
FRONT_END_SETTINGS: list[str] = ["bot.settings:SlackSettings"]

DEFAULT_EMBED = "bundled:all-MiniLM-L6-v2"
# the choices are the registered runtimes (kb/backends/registry.py), so a new runtime needs no edit here
EmbedBackend = Literal[("auto", *EMBED_BACKENDS)]  # type: ignore[valid-type]
LlmRuntime = Literal[("auto", *LLM_RUNTIMES)]  # type: ignore[valid-type]
LlmDtype = Literal["float32", "bfloat16", "int8"]
DraftMode = Literal["auto", "always", "never"]
DEFAULT_LLM = "bundled:SmolLM2-135M-Instruct"


def default_data_dir() -> Path:
    """A per-user data folder, so `kb` works from any directory."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("kb", appauthor=False))


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kb", appauthor=False))


def split_list(value: Any) -> Any:
    """Accept `a,b` as well as `["a", "b"]` from the environment."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KB_",
        extra="ignore",
        toml_file=os.environ.get("KB_CONFIG", "kb.toml"),
        populate_by_name=True,
    )

    # store
    store: Path = Field(default_factory=lambda: default_data_dir() / "store",
                        description="Folder of the embedded Chroma store (ignored with chroma_url).")
    chroma_url: str | None = Field(None, description="URL of a Chroma server, e.g. http://localhost:8000; "
                                   "replaces the embedded store.")
    collection: str = Field("kb-pages",
                            description="Chroma collection name (3-512 characters: letters, digits, . _ -).")
    cache_dir: Path = Field(default_factory=default_cache_dir,
                            description="Where converted model weights and other caches live.")

    # ingest
    fetch_timeout: float = Field(15.0, description="Seconds one URL may take to fetch (kb ingest URL / --sitemap).")
    max_page_bytes: int = Field(5 * 1024 * 1024, description="Larger files and fetched pages are skipped.")
    sources: list[SyncSource] = Field(default_factory=list, description="What `kb sync` re-ingests: `[[sources]]` "
                                      "tables in kb.toml (path, git_pull, urls, sitemap, include, exclude, "
                                      "allow_hosts, prune; docs/ingest.md), or a JSON list.")

    source_urls: dict[str, str] = Field(
        default_factory=dict, description="Links for local pages: a folder -> the base URL its files are published "
        "under (a JSON object in KB_SOURCE_URLS, a table in kb.toml); 'guide/a.md' below the folder links to base + "
        "'guide/a.md', or fills `{path}` / `{stem}` (no .md) in the base. A page's front matter `url:` or fetched URL "
        "wins; pages with none show their file path.")

    ingest_max_tokens: int = Field(128, ge=16, le=512, description="Word pieces of each chunk the embedder "
                                   "reads at ingest ([CLS] and [SEP] included; the model's own limit, 256, still "
                                   "applies). MiniLM was trained on 128; embedding time grows with what is read, and "
                                   "BM25 indexes every word anyway (docs/bench-ingest.md). Applies to pages embedded "
                                   "from then on.")

    # models
    embed_model: str = Field(DEFAULT_EMBED, description="sentence-transformers model: 'bundled:all-MiniLM-L6-v2', "
                             "a Hugging Face id or a local folder.")
    embed_backend: EmbedBackend = Field("auto", description="Embedding runtime: torch (sentence-transformers) | onnx | "
                               "onnx-int8 (ONNX Runtime, exported once into cache_dir; no torch at query time) | auto "
                               "(the backend the store recorded at ingest; for a new store onnx for a local model "
                               "folder, else torch). int8 ingests in ~0.8x the time but is opt-in: it cost one "
                               "realdocs question its top-3 hit.")
    llm_model: str = Field(DEFAULT_LLM, description="Instruct model: 'bundled:SmolLM2-135M-Instruct', a Hugging Face "
                           "id, a local folder, or folder/file.gguf.")
    llm_url: str | None = Field(None, description="OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server), "
                                "e.g. http://localhost:8080/v1; replaces the local model.")
    llm_api_key: SecretStr = Field(SecretStr("not-needed"), description="API key for llm_url.")
    llm_timeout: float = Field(60.0, description="Seconds to wait for the LLM endpoint.")
    max_new_tokens: int = Field(80, description="Upper bound on generated tokens per answer.")
    threads: int = Field(0, ge=0, description="Threads for local inference and ingest embedding (0: all usable "
                         "cores but one, at least 1: a busy core slows every thread of a runtime that uses it; "
                         "`kb ingest` takes every core idle when it starts, one kept back while `kb serve` or "
                         "`kb slack` runs).")
    llm_runtime: LlmRuntime = Field("auto", description="Local LLM runtime: transformers | onnx-genai | llama-cpp | "
                                    "auto (llama-cpp when installed (`make speedup`) and the model is a .gguf, else "
                                    "onnx-genai when onnxruntime-genai is installed and the model is on disk, else "
                                    "transformers).")
    llm_dtype: LlmDtype = Field("float32", description="transformers runtime weights: float32 | bfloat16 | int8 "
                           "(torch dynamic quantization).")
    serve_port: int = Field(0, description="Loopback port of `kb serve` (0: any free port; `kb ask` finds it "
                            "through serve.json in the data folder).")
    serve_queue: int = Field(100, description="Questions `kb serve` holds waiting for the model; more get HTTP 503.")

    # retrieval and answering
    top_k: int = Field(8, ge=1, description="Passages retrieved for an answer (and shown by `kb search`); quotes are "
                       "picked from their sentences (quotes alone recalled 0.84 of the seed pages' key facts with 8, "
                       "0.79 with 4).")
    page_passages: int = Field(8, ge=0, description="Passages ranked past top_k that are read too when they come "
                               "from one of the top pages, as more sentences to quote (never as evidence of which "
                               "page answers or whether the question is covered): the sentence with the number or "
                               "the step often sits further down the page that answers (realdocs key-fact recall "
                               "0.851 -> 0.868, held-out 0.753 -> 0.785 with 8; 0 turns this off).")
    draft: DraftMode = Field("auto", description="When the LLM drafts an answer: always | never (the answer is "
                             "the cited source sentences kb quotes; no model is loaded) | auto (never for a model or "
                             "runtime whose drafts the checker has not kept: the bundled 135M model on any runtime "
                             "(a kept sentence in 2 of 60 realdocs answers even when decoding may only copy the "
                             "source's words) and onnx-genai's int4 export (0 of 64 on the sample eval); always for "
                             "other models and endpoints). An answer made of quotes anyway then costs retrieval and "
                             "checks only.")
    focused_prompt: bool = Field(True, description="Show the model only the source sentences kb would quote "
                                 "(~200-token prompt) instead of each passage's first 90 words (~420 tokens).")
    candidates: int = Field(20, ge=1, description="Candidates each retriever returns before fusion.")
    min_relevance: float = Field(0.30, description="Refuse when the best passage's question similarity is below "
                                 "this (sample and seed sets: out-of-scope questions score <= 0.25, in-scope >= 0.36; "
                                 "realdocs: in-scope >= 0.32).")
    scope_relevance: float = Field(0.61, description="Below this best-passage similarity a question must also "
                                   "have its words in the knowledge base, or kb refuses (kb/scope.py). On realdocs, "
                                   "questions the pages do not cover score up to 0.60 and in-scope ones whose words "
                                   "are partly missing 0.62 and up.")
    missing_share: float = Field(0.2, ge=0.0, le=1.0, description="Refuse a question under scope_relevance when "
                                 "this share of its IDF weight is on words no passage uses ('YOLOv8', 'diarization'; "
                                 "out-of-scope realdocs questions 0.23-0.83). Only from 500 passages on.")
    fact_share: float = Field(0.15, ge=0.0, le=1.0, description="Refuse a question under scope_relevance that names "
                              "something few passages mention ('Mixtral 8x7B') when no 3-sentence window holding the "
                              "name holds this share of the IDF weight of its other words ('context window'; "
                              "kb/scope.py). Realdocs: in-scope questions 0.18 and up, the uncovered ones 0-0.11. "
                              "Only from 500 passages on.")
    min_support: float = Field(0.6, description="A generated sentence is kept only if a cited source sentence "
                               "supports it at least this much (faithful paraphrases score ~0.9; invented claims ~0.6 "
                               "or less, and clashes score 0).")
    min_coverage: float = Field(0.6, ge=0.0, le=1.0, description="A kept sentence must also keep at least this "
                                "share of its source sentence's content words (asides not counted), unless nearly all "
                                "its words come from that sentence: the 135M model's wrong merges of two sentences "
                                "keep 0-0.57.")

    # safety limits (docs/operations.md)
    max_question_chars: int = Field(2000, ge=1, description="Longer questions are turned away with a message (CLI, "
                                    "kb serve, Slack) instead of filling the model's prompt.")
    fetch_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Other hosts a fetched URL may redirect to (kb ingest --allow-host), "
        "comma-separated or a JSON list; by default redirects stay on the URL's own host.")

    @field_validator("fetch_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("source_urls", mode="after")
    @classmethod
    def _check_source_urls(cls, value: dict[str, str]) -> dict[str, str]:
        """Folders as ingest records them (absolute, symlinks resolved); bases must be web addresses."""
        out = {}
        for folder, base in value.items():
            if not is_url(str(base)):
                raise ValueError(f"the base URL for {folder!r} must start with http:// or https://, not {base!r}")
            path = Path(folder).expanduser()
            out[str(path.resolve() if path.is_absolute() or path.exists() else path.absolute())] = str(base)
        return out

    @field_validator("sources")
    @classmethod
    def _distinct_names(cls, value: list[SyncSource]) -> list[SyncSource]:
        """`kb status` keys each source's last run by its name."""
        names = [s.name for s in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two sources are named {twice[0]!r}; give each a distinct `name`")
        return value

    @field_validator("embed_backend", "llm_runtime", mode="before")
    @classmethod
    def _normalise_choice(cls, value: Any) -> Any:
        """'ONNX', ' llama_cpp ' are the same choices as 'onnx', 'llama-cpp'."""
        return value.strip().lower().replace("_", "-") if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def data_dir(self) -> Path:
        """Folder for kb's own files beside the store (gaps log, feedback, locks)."""
        return self.store if not self.chroma_url else default_data_dir()

    def describe(self) -> dict[str, Any]:
        """Effective settings without secrets, for `kb status` and eval results."""
        secrets = {name for name, f in type(self).model_fields.items() if "SecretStr" in str(f.annotation)}
        return self.model_dump(mode="json", exclude=secrets)


def front_end_settings() -> list[type[Settings]]:
    """The settings classes the front ends registered in FRONT_END_SETTINGS."""
    import importlib

    out = []
    for spec in FRONT_END_SETTINGS:
        module, _, name = spec.partition(":")
        out.append(getattr(importlib.import_module(module), name))
    return out


def load_settings(settings_cls: type[Settings] = Settings, **overrides: Any) -> Settings:
    """Build Settings (or a front end's subclass) once; None-valued overrides (unset CLI options) are ignored."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError as SourceError

    from kb.errors import SettingsError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return settings_cls(**clean)
    except SourceError as exc:
        raise SettingsError(f"{exc} (check the KB_* environment variables and kb.toml)") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        env = f"KB_{str(first['loc'][0]).upper()}" if first["loc"] else "KB_*"  # sources.0.path: KB_SOURCES
        raise SettingsError(f"setting {name!r} (env {env}, or kb.toml): {first['msg']}") from None


def settings_table(classes: list[type[Settings]] | None = None) -> str:
    """The README's settings table, generated from the field descriptions (tests keep them in sync):
    the core settings, then each front end's own (default: those in FRONT_END_SETTINGS)."""
    rows = ["| setting | env | default | what it does |", "|---|---|---|---|"]
    fields: dict[str, Any] = {}
    for cls in [Settings, *(front_end_settings() if classes is None else classes)]:
        fields.update({k: v for k, v in cls.model_fields.items() if k not in fields})
    for name, field in fields.items():
        env = field.validation_alias if isinstance(field.validation_alias, str) else f"KB_{name.upper()}"
        if field.default_factory is not None:
            default = "per-user folder" if name in ("store", "cache_dir") else (
                "{}" if field.default_factory is dict else "[]")
        elif isinstance(field.default, SecretStr) or field.default is None:
            default = "-"
        else:
            default = f"`{field.default}`"
        text = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | `{env}` | {default} | {text} |")
    return "\n".join(rows)
