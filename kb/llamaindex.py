"""kb's retrieval and answering exposed as LlamaIndex components, wrapping an `Engine`.

`KbRetriever` is a LlamaIndex retriever over `Engine.passages` (hybrid search over
the Chroma store, and the top pages' further passages); `KbQueryEngine` composes a retriever, optional LlamaIndex node
postprocessors and `Engine.answer_from_hits`, and returns a Response whose text
is the kb answer, whose source nodes are exactly the passages its citations point
at, and whose metadata["answer"] is the kb Answer. Teams can plug either into
other LlamaIndex pipelines. The Engine does not depend on this module.
"""

from __future__ import annotations

import time
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from kb.types import Chunk, Hit

HIT_KEYS = ("source", "title", "section", "position", "dense", "lexical", "neighbour")


def hit_to_node(hit: Hit) -> NodeWithScore:
    c = hit.chunk
    meta = {"source": c.source, "title": c.title, "section": c.section, "position": c.position,
            "dense": hit.dense, "lexical": hit.lexical, "neighbour": hit.neighbour, **c.metadata}
    return NodeWithScore(node=TextNode(id_=c.id, text=c.text, metadata=meta), score=hit.score)


def node_to_hit(node: NodeWithScore) -> Hit:
    """The Hit a node was made from (hit_to_node's inverse), so postprocessed nodes can be answered from."""
    meta = dict(node.node.metadata)
    fields = {k: meta.pop(k, None) for k in HIT_KEYS}
    chunk = Chunk(id=node.node.node_id, text=node.node.get_content(), source=str(fields["source"] or ""),
                  title=str(fields["title"] or ""), section=str(fields["section"] or ""),
                  position=int(fields["position"] or 0), metadata=meta)
    return Hit(chunk=chunk, score=float(node.score or 0.0), dense=float(fields["dense"] or 0.0),
               lexical=float(fields["lexical"] or 0.0), neighbour=bool(fields["neighbour"]))


class KbRetriever(BaseRetriever):
    """Engine.passages as a LlamaIndex retriever (with `top_k`: Engine.search, the ranked passages only)."""

    def __init__(self, engine: Any, top_k: int | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.top_k = top_k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        q = query_bundle.query_str
        hits = self.engine.search(q, self.top_k) if self.top_k else self.engine.passages(q)
        return [hit_to_node(h) for h in hits]


class KbQueryEngine(CustomQueryEngine):
    """retriever -> node postprocessors -> Engine.answer_from_hits (refuse or draft, verify, cite)."""

    engine: Any
    retriever: Any
    node_postprocessors: list[Any] = []

    @classmethod
    def from_engine(cls, engine: Any, node_postprocessors: list[Any] | None = None) -> KbQueryEngine:
        return cls(engine=engine, retriever=KbRetriever(engine), node_postprocessors=node_postprocessors or [])

    def custom_query(self, query_str: str) -> Response:
        start = time.perf_counter()
        nodes = self.retriever.retrieve(query_str)
        for post in self.node_postprocessors:
            nodes = post.postprocess_nodes(nodes, query_bundle=QueryBundle(query_str))
        hits = [node_to_hit(n) for n in nodes]
        answer = self.engine.answer_from_hits(query_str, hits, time.perf_counter() - start)
        cited = {c.chunk_id for c in answer.citations}
        return Response(response=answer.answer, source_nodes=[n for n in nodes if n.node.node_id in cited],
                        metadata={"answer": answer})
