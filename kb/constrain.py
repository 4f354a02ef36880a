"""Decoding that may only copy words from the source sentences (a logits mask).

A 135M model's free draft is rarely kept: it brings words from elsewhere. With a
mask, each step may only choose a token that occurs in the prompt's source
sentences (as the tokenizer splits them, with and without a leading space and
capital), a few function words, punctuation and the end of the turn. The draft is
then a recombination of the source's words, which the checker can verify, though
not necessarily a true one (CHECKING.md): the mask makes drafts checkable, the
checker decides whether they are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kb.backends.transformers_llm import LocalLLM

# Words a sentence needs to join copied phrases; nothing here carries a fact by itself
# ("not", "all", numbers and quantity words are deliberately absent: they must come from the source).
FUNCTION_WORDS = ("a an the is are was were be it its this that these those which who and or but of to in on "
                  "for with by as at from than so can also into their they them such").split()
PUNCTUATION = [".", ",", ";", ":", "(", ")", "-", "'", '"']
WORD_OR_MARK = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")


def allowed_token_ids(tokenizer: Any, sources: Iterable[str], extra_words: Iterable[str] = FUNCTION_WORDS) -> set[int]:
    """Token ids that spell the sources' words and marks, each as written, with a leading space,
    and capitalised, plus `extra_words`, punctuation and the end-of-turn/end-of-text tokens."""
    pieces: set[str] = set()
    for text in list(sources) + list(extra_words) + PUNCTUATION:
        for word in WORD_OR_MARK.findall(text):
            for form in {word, word.lower(), word[:1].upper() + word[1:]}:
                pieces.update((form, " " + form))
    ids: set[int] = set()
    for piece in pieces:
        ids.update(tokenizer.encode(piece, add_special_tokens=False))
    for special in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")):
        if isinstance(special, int) and special >= 0 and special != tokenizer.unk_token_id:
            ids.add(special)
    return ids


class SourceWordsMask:
    """A transformers LogitsProcessor: every token outside `allowed` gets -inf.

    Use: model.generate(..., logits_processor=LogitsProcessorList([SourceWordsMask(ids, vocab)])).
    """

    def __init__(self, allowed: Iterable[int], vocab_size: int) -> None:
        import torch

        self.mask = torch.full((vocab_size,), float("-inf"))
        keep = torch.tensor(sorted(i for i in allowed if 0 <= i < vocab_size), dtype=torch.long)
        self.mask[keep] = 0.0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        n = scores.shape[-1]
        mask = self.mask[:n] if n <= self.mask.shape[0] else self._padded(n)
        return scores + mask.to(scores.dtype)

    def _padded(self, n: int) -> Any:
        import torch

        return torch.cat([self.mask, torch.full((n - self.mask.shape[0],), float("-inf"))])


def constrained_chat(llm: LocalLLM, messages: list[dict[str, str]], sources: Iterable[str],
                     max_new_tokens: int) -> tuple[str, int]:
    """Like LocalLLM.chat (greedy, repetition penalty 1.15), with the source-words mask.

    `llm` is the transformers runtime (kb.backends.transformers_llm.LocalLLM): its `model` and `tokenizer`.
    """
    import torch
    from transformers import LogitsProcessorList

    tok, model = llm.tokenizer, llm.model
    mask = SourceWordsMask(allowed_token_ids(tok, sources), model.config.vocab_size)
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tok(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, repetition_penalty=1.15,
                             pad_token_id=tok.eos_token_id, logits_processor=LogitsProcessorList([mask]))
    new = out[0, inputs["input_ids"].shape[1]:]
    return tok.decode(new, skip_special_tokens=True).strip(), int(new.shape[0])
