"""Can the bundled instruct model choose which quote opens the answer? (issue 13: "the model choosing and
ordering numbered sentences")

    python bench/chooser.py RESULTS.json [--mode list|each]

RESULTS.json is a `kb eval` run (its set, its answers). For every answered question with key facts, the
answer's quotes (up to six, in kb's order) are shown to the model, and the quote it chooses is scored as
the answer's first sentence (first-sentence key-fact recall, eval/metrics.py), beside kb's own opening
quote, the best quote of the answer (the bound of any reordering) and a quote taken at random (the mean
over the answer's quotes):

- `list`: every quote numbered in one prompt; the model's next-token probabilities over the numbers
  decide (one forward pass, no generated text to parse);
- `each`: one prompt per quote ("Does the sentence answer the question? Yes or No."); the quote with the
  highest log-odds of "Yes" opens;
- `likelihood`: the quote under which the model finds the question most likely (the mean log-probability of the
  question's tokens written after "Passage: <quote> Write a question that this passage answers."; query
  likelihood, as UPR reranks passages), no answer asked of the model at all.

The model runs through transformers (kb/backends/transformers_llm.py), the path that always works.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine  # noqa: E402

QUOTE = re.compile(r"\u201c(.+?)\u201d\s*\[\d+\]", re.S)  # how kb/cite.py prints a quote
MAX_QUOTES = 6
MAX_WORDS = 60


def _short(text: str) -> str:
    words = text.split()
    return " ".join(words[:MAX_WORDS]) + (" ..." if len(words) > MAX_WORDS else "")


def _ids(llm: Any, messages: list[dict[str, str]]) -> Any:
    prompt = llm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return llm.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids


def _next_token_logprobs(llm: Any, messages: list[dict[str, str]]) -> Any:
    import torch

    with torch.inference_mode():
        return torch.log_softmax(llm.model(_ids(llm, messages)).logits[0, -1], -1)


def _token(llm: Any, text: str) -> int:
    return llm.tokenizer.encode(text, add_special_tokens=False)[0]


def choose_from_list(llm: Any, question: str, quotes: list[str]) -> int:
    listing = "\n".join(f"{i + 1}. {_short(q)}" for i, q in enumerate(quotes))
    lp = _next_token_logprobs(llm, [
        {"role": "system", "content": "You pick the sentence that answers the question."},
        {"role": "user", "content": f"Question: {question}\n\nSentences:\n{listing}\n\n"
                                    "Which sentence answers the question best? Reply with its number only."}])
    numbers = [_token(llm, str(i + 1)) for i in range(len(quotes))]
    return max(range(len(quotes)), key=lambda i: float(lp[numbers[i]]))


def choose_each(llm: Any, question: str, quotes: list[str]) -> int:
    import torch

    yes = [_token(llm, w) for w in ("Yes", "yes", " Yes")]
    no = [_token(llm, w) for w in ("No", "no", " No")]
    odds = []
    for q in quotes:
        lp = _next_token_logprobs(llm, [
            {"role": "system", "content": "You judge whether a sentence answers a question."},
            {"role": "user", "content": f"Question: {question}\n\nSentence: {_short(q)}\n\n"
                                        "Does the sentence answer the question? Reply Yes or No."}])
        odds.append(float(torch.logsumexp(lp[yes], 0) - torch.logsumexp(lp[no], 0)))
    return max(range(len(quotes)), key=lambda i: odds[i])


def question_logprob(llm: Any, question: str, quote: str) -> float:
    """Mean log-probability of the question's tokens written after the quote (query likelihood, as in
    UPR, Sachan et al. 2022): a passage that answers a question makes that question likely."""
    import torch

    head = _ids(llm, [{"role": "user", "content": f"Passage: {_short(quote)}\n\n"
                                                  "Write a question that this passage answers."}])
    tail = llm.tokenizer(question, return_tensors="pt", add_special_tokens=False).input_ids
    ids = torch.cat([head, tail], 1)
    with torch.inference_mode():
        lp = torch.log_softmax(llm.model(ids).logits[0, head.shape[1] - 1:-1], -1)
    return float(lp.gather(1, tail[0].unsqueeze(1)).mean())


def choose_by_likelihood(llm: Any, question: str, quotes: list[str]) -> int:
    scores = [question_logprob(llm, question, q) for q in quotes]
    return max(range(len(quotes)), key=lambda i: scores[i])


def main(argv: list[str] | None = None) -> None:
    from eval.cases import load_set, resolve_set
    from eval.metrics import fact_recall
    from kb.backends.transformers_llm import load
    from kb.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results.json of a `kb eval` run")
    parser.add_argument("--mode", choices=("list", "each", "likelihood"), default="list")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    cases = {c.id: c for c in load_set(resolve_set(results["set"]["name"])).cases}
    llm = load(load_settings())
    choose = {"list": choose_from_list, "each": choose_each, "likelihood": choose_by_likelihood}[args.mode]
    kb_first = model_first = best = uniform = 0.0
    picks: Counter[int] = Counter()
    n, started = 0, time.perf_counter()
    for q in results["runs"][0]["questions"]:
        case = cases[q["id"]]
        quotes = QUOTE.findall(q["answer"]["answer"])[:MAX_QUOTES]
        if case.refuse or not case.facts or q["answer"]["refused"] or not quotes:
            continue
        scores = [fact_recall(text, case.facts)[0] for text in quotes]
        pick = choose(llm, case.question, quotes)
        picks[pick + 1] += 1
        n += 1
        kb_first, model_first, best = kb_first + scores[0], model_first + scores[pick], best + max(scores)
        uniform += sum(scores) / len(scores)
    if not n:
        raise SystemExit("no answered question with key facts in the results")
    print(json.dumps({"set": results["set"]["name"], "mode": args.mode, "questions": n,
                      "first_sentence_recall": {"kb_order": round(kb_first / n, 3),
                                                "model_choice": round(model_first / n, 3),
                                                "best_quote": round(best / n, 3),
                                                "any_quote_on_average": round(uniform / n, 3)},
                      "chosen_position": dict(sorted(picks.items())),
                      "seconds_per_question": round((time.perf_counter() - started) / n, 2),
                      "machine": machine()}, indent=1))


if __name__ == "__main__":
    main()
