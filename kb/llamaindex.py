"""kb's retrieval and answering exposed as LlamaIndex components.

`KbRetriever` is a LlamaIndex retriever (hybrid search over the Chroma store);
`KbQueryEngine` is a LlamaIndex query engine whose response carries the kb
Answer and, as source nodes, exactly the passages its citations point at. Teams
can plug either into other LlamaIndex pipelines.
"""

from __future__ import annotations

import time
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from kb.types import Hit


def hit_to_node(hit: Hit) -> NodeWithScore:
    c = hit.chunk
    meta = {"source": c.source, "title": c.title, "section": c.section, "position": c.position,
            "dense": hit.dense, "lexical": hit.lexical, **c.metadata}
    return NodeWithScore(node=TextNode(id_=c.id, text=c.text, metadata=meta), score=hit.score)


class KbRetriever(BaseRetriever):
    def __init__(self, engine: Any) -> None:
        super().__init__()
        self.engine = engine
        self.last_hits: list[Hit] = []

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        self.last_hits = self.engine.retriever().retrieve(query_bundle.query_str, self.engine.settings.top_k)
        return [hit_to_node(h) for h in self.last_hits]


class KbQueryEngine(CustomQueryEngine):
    retriever: Any
    engine: Any

    def custom_query(self, query_str: str) -> Response:
        start = time.perf_counter()
        self.retriever.retrieve(query_str)
        hits = self.retriever.last_hits
        answer = self.engine.answer_from_hits(query_str, hits, time.perf_counter() - start)
        cited = {c.chunk_id for c in answer.citations}
        nodes = [hit_to_node(h) for h in hits if h.chunk.id in cited]
        return Response(response=answer.answer, source_nodes=nodes, metadata={"answer": answer})
