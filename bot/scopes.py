"""Knowledge per channel: which collection answers a question asked in a channel.

One workspace, several teams: `slack_scopes` maps a channel to a Chroma collection
(filled with `kb --collection NAME ingest PATH`), and DMs, the assistant panel and
other channels use `slack_default_scope` (else `collection`). A scope is a whole
collection, not a filter on one, so a question in #sales can never retrieve a
passage of #ml-platform's pages, and each team re-ingests its pages on its own.

The bot holds one Engine per collection, made on first use. They share the first
Engine's embedder and LLM, the only large parts, so a scope costs a Chroma
collection handle and a BM25 index, not another model (unless its collection holds
another embedder's vectors: then it loads that one, kb/backends/vectors.py).
"""

from __future__ import annotations

import threading
from typing import Any

from bot.settings import SlackSettings
from kb.errors import EmptyStore, SettingsError


class Scopes:
    def __init__(self, settings: SlackSettings, engine: Any) -> None:
        self.settings = settings
        self.default = settings.slack_default_scope or settings.collection
        self._engines: dict[str, Any] = {settings.collection: engine}
        self._lock = threading.Lock()

    def collection_for(self, channel: str) -> str:
        """The channel's collection; DMs (D...) and unmapped channels get the default."""
        return self.settings.slack_scopes.get(channel, self.default)

    def engine_for(self, channel: str) -> Any:
        return self.engine(self.collection_for(channel))

    def engine(self, collection: str) -> Any:
        with self._lock:
            if collection not in self._engines:
                from kb.engine import Engine

                base = self._engines[self.settings.collection]
                # share the loaded models; no LLM when answers do not wait for a draft (KB_DRAFT=auto)
                llm = base.llm if base.wants_draft() else None
                from kb.backends.vectors import fits
                from kb.store import Store

                settings = self.settings.model_copy(update={"collection": collection})
                store = Store(settings)
                # a collection embedded another way (e.g. made before int8 was the default) loads its own embedder
                embedder = base.embedder if fits(store, base.embedder) else None
                self._engines[collection] = Engine(settings, store=store, embedder=embedder, llm=llm)
            return self._engines[collection]

    def collections(self) -> list[str]:
        """Every collection a question can be answered from, default first."""
        return list(dict.fromkeys([self.default, *self.settings.slack_scopes.values()]))

    def check(self) -> None:
        """At start-up: each scope's collection must hold pages, or the bot would refuse everything there."""
        for name in self.collections():
            try:
                self.engine(name).ensure_not_empty()
            except EmptyStore:
                if not self.settings.slack_scopes and not self.settings.slack_default_scope:
                    raise  # no scopes set up: the usual "fill it with kb ingest" message
                channels = [c for c, n in self.settings.slack_scopes.items() if n == name]
                who = (f"slack_scopes maps {', '.join(channels)} to it" if channels
                       else "it answers DMs and other channels")
                raise SettingsError(
                    f"collection {name!r} in {self.engine(name).store.location} is empty ({who}): fill it with "
                    f"`kb --collection {name} ingest PATH...`, or fix KB_SLACK_SCOPES / KB_SLACK_DEFAULT_SCOPE"
                ) from None
