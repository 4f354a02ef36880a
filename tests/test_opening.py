"""Answer-first (kb/opening.py): which picked quote opens the answer, by the question's kind and the
quote's form. Sentences are our own; each case would open with another quote without its rule."""

from __future__ import annotations

import pytest

from kb.opening import (
    answer_first,
    answer_fit,
    extra_opener,
    how_verb,
    leans_back,
    question_subject,
    stands_alone,
)
from kb.passages import SourceSentence


def _order(question: str, terms: list[str], *texts: str) -> list[str]:
    got = answer_first(question, terms, [SourceSentence(t, 0) for t in texts])
    assert sorted(q.text for q in got) == sorted(texts)  # the same quotes: only the order changes
    return [q.text for q in got]


@pytest.mark.parametrize("question, terms, texts, first", [
    # what is X: a genus with what tells it apart, over a naming and a judgement of X
    ("What is a vector store?", ["vector store"],
     ["A vector store is also called a vector database.", "A vector store is the right place for embeddings.",
      "A vector store is a database that indexes embeddings for nearest-neighbour search."], 2),
    # what is X: a glossary entry's definition without its subject ('The method that ...')
    ("What is write batching?", ["write batching"],
     ["Batches are flushed every second by the writer.", "The method that groups small writes into one disk write."],
     1),
    # what is X and why ...: the term is X, not 'X and why bother'
    ("What is lazy loading and why bother?", ["lazy loading and why bother"],
     ["Lazy loading is especially useful on slow links.",
      "Lazy loading is the practice of fetching a module on first use."], 1),
    # what does X do: X doing something, before what X is
    ("What does the linker do?", ["linker do"],
     ["The linker is a program of the toolchain.", "The linker joins object files into one executable."], 1),
    # what is X: a term given as a label, then described
    ("What are reranker models used for?", ["reranker models used for"],
     ["Some teams skip them.", "Reranker models (RMs). Used to reorder the passages a first search returned."], 1),
    # why: the reason about the asked subject, not a reason about something else
    ("Why does the page cache matter for a database?", [],
     ["A larger buffer costs more memory, because each page is held twice.",
      "The page cache keeps hot pages in memory so that reads skip the disk."], 1),
    # should I: an instruction that answers it
    ("Should I shard the index or keep one copy?", [],
     ["Sharding spreads the load over machines.", "Keep one copy when the index fits on one machine."], 1),
    # should I: a verdict with its reason
    ("Can I run the migration during business hours?", [],
     ["Migrations rewrite every table.", "A migration should not run during business hours because it locks writes."],
     1),
    # should I: a verdict on what was asked beats an instruction about something else
    ("Should I cache the results of slow queries?", [],
     ["Caching slow queries is a poor fit when their data changes every second.",
      "Cache the login page for anonymous visitors."], 0),
    # the downside of X: a loss or a limit, not what X is
    ("What is the downside of compressing the logs?", ["downside of compressing the logs"],
     ["Log compression is a technique that stores logs in fewer bytes.",
      "Compressed logs are slower to search, since every read decompresses a block."], 1),
    # how does X ...: a sentence on X that says how, not X's definition nor a sentence on another subject
    ("How does the scheduler in a cluster pick a node?", [],
     ["The nodes report their free memory every second.", "A scheduler is a service in a cluster.",
      "The scheduler scores each node by free memory and picks the best one."], 2),
    # how do I ...: an instruction with the asked verb
    ("How do I rotate the signing keys?", [],
     ["Signing keys protect the release files.", "Rotate the signing keys with the vault command every month."], 1),
    # why: a consequence with its subject named by its initials ('Write Ahead Log' -> 'WAL')
    ("Why is a Write Ahead Log durable?", [],
     ["Many databases keep several logs on disk.",
      "As a result, a WAL survives a crash, because each entry is flushed."], 1),
    # yes/no: a quote that opens with the verdict, even one that would lean back ('It depends ...')
    ("Is every cache a write-back cache?", [],
     ["Most caches in this guide are write-back caches.", "No. Caches can write through, write back or write around."],
     1),
    ("How many replicas do I need for a queue?", [],
     ["Replicas copy every message to other nodes.", "It depends on the load. Two replicas cover most queues."], 1),
    # how does X ...: a lead-in whose list gives the steps
    ("How does the job scheduler work?", [],
     ["Jobs wait in a queue until a node is free.",
      "The job scheduler runs in a loop:\n- It first scores every node.\n- Then it sends the job to the best node."],
     1),
    # how many / what default: a lead-in whose list holds the numbers
    ("What block size does the store use by default?", [],
     ["Change the block size in the settings file to suit your disks.",
      "The store picks its block size from the disk:\n- Under 1 TB: 4 KiB blocks\n- 1 TB or more: 64 KiB blocks"], 1),
    # what does X stand for: an acronym spelled out as a glossary row spells it
    ("What does WAL stand for?", ["WAL"],
     ["A WAL makes every write durable before it is applied.", "FS: File System WAL: Write Ahead Log"], 1),
    # why: a definition that happens to hold 'so' is no reason
    ("Why can a proxy cost more than the backend?", [],
     ["A reverse proxy is a server that sits in front of the backend so it can cache replies.",
      "A proxy handles every request, so its cost grows with traffic while the backend's is paid once."], 1),
    # how large / what default: a sentence with a number
    ("How large is the build cache?", [],
     ["The build cache speeds up every rebuild of the tree.", "The build cache holds up to 20 GB of objects."], 1),
    # ... a sentence, not a list row ('label: value') that holds a number
    ("How many nodes does the cluster need?", [],
     ["The cluster spreads its load over the nodes.", "Up to 32 GB disks: 2 nodes",
      "A cluster of this size needs 3 nodes for a quorum."], 2),
    # ... but "what is X?" stays a definition question, whatever X is called
    ("What is a context window?", ["context window"],
     ["Our model supports a context window of 8192 tokens.",
      "A context window is the span of tokens that a model reads at once."], 1),
    # does X buy A or B?: a contrast of the two
    ("Does a bigger cache buy speed or safety?", [],
     ["A cache keeps copies of hot pages in memory.", "A bigger cache speeds up reads but loses more data in a crash."],
     1),
    # X vs Y: a sentence naming both with a contrast
    ("What is the difference between a queue and a stack?", ["queue", "stack"],
     ["A queue is a list.", "A queue hands out the oldest item first, whereas a stack hands out the newest."], 1),
    # a share or a multiple is no amount: 'how large' wants the size, not '30% smaller'
    ("How large is the Zeta word list?", [],
     ["Zeta was built from 40 languages and is 30% smaller on disk than the old tool.",
      "Our word list holds 64k words plus 200 control entries."], 1),
    # ... unless the question asks for one ('how much faster')
    ("How much faster is the new parser?", [],
     ["The new parser reads files in 12 places.", "The new parser is 3x faster on large files."], 1),
    # the number beside the asked word, not any number on the page ('defaults to 512' for 'by default')
    ("What block size does the Zeta store use by default?", [],
     ["Zeta was written in 2019 by a team of 4.", "Store blocks default to 512 KiB and can grow to 4 MiB."], 1),
    # memory is counted in bytes: '13 nodes' stands near the asked words but is no amount of memory
    ("How much memory do the full and the small index need?", [],
     ["Nodes needed: full index: 13 nodes; small index: 2 nodes",
      "Index: full; Memory: 10-14 GB; Index: small; Memory: 2 GB"], 1),
    # a sentence that says the amount opens before a table row that holds it
    ("How much memory does the full index need?", [],
     ["Index: full; Memory: 10-14 GB; Index: small; Memory: 2 GB",
      "The full index needs 10-14 GB of memory while it is built."], 1),
    # 'how does X <verb>?': the sentence where X does that verb, over one on how X works in general
    ("How does the page cache grow as more files are read?", [],
     ["The page cache keeps each file block in memory, using every free page it can find.",
      "As more files are read, the page cache grows until free memory runs out."], 1),
    # 'by' names a maker there, not a way: 'Atlas by Northwind Labs' says nothing of how
    ("How do streaming parsers read large files?", [],
     ["Atlas by Northwind Labs: an early streaming parser for large files.",
      "Streaming parsers read a large file in small pieces and keep only the current piece in memory."], 1),
    # 'what does X (need to) contain / hold?': what X holds, over what X is for
    ("What does a crash report need to contain?", ["crash report need to contain"],
     ["Crash reports are used by the triage team to decide which bugs are fixed first.",
      "Crash reports are expected to have two fields: the stack trace and the build number."], 1),
    ("What does the row cache hold?", ["row cache"],
     ["The row cache is sized at startup from the free memory.",
      "The row cache holds the most recently read rows of every table."], 1),
])
def test_the_quote_that_answers_the_kind_opens(question, terms, texts, first):
    assert _order(question, terms, *texts)[0] == texts[first]


@pytest.mark.parametrize("question, terms, texts", [
    # yes/no about a thing: the ranking's first quote (the asked words) stays first
    ("Does a bloom filter ever miss a member?", [],
     ["A bloom filter never misses a member but can report false matches.", "A bloom filter is a bit array."]),
    # nothing fits better: the ranking is kept
    ("What is a bloom filter?", ["bloom filter"], ["Nothing here defines it.", "Nor here."]),
    # a tie keeps the better-ranked quote first
    ("Should I pin the version?", [], ["Pin the version for release builds.", "Do not pin the version for tests."]),
])
def test_the_ranking_is_kept_when_no_quote_fits_better(question, terms, texts):
    assert _order(question, terms, *texts) == list(texts)


@pytest.mark.parametrize("text, alone", [
    ("only a few of them run.", False),  # a fragment
    ("Fast and cheap.", False),  # says too little
    ("Learn more about the difference between the two caches.", False),  # a pointer, not an answer
    ("See the tuning guide for the full list of flags.", False),
    ("Note: the flags below only apply to the server.", False),
    ("There are three kinds of index:", False),  # a lead-in without its list
    ("There are three kinds of index:\n- hash\n- tree\n- inverted", True),  # with it
    ("A hash index maps each key to a bucket.", True),
    ("Which kind of index should a small table use?", False),  # a question the page asks answers nothing
])
def test_what_can_open_an_answer(text, alone):
    assert stands_alone(text) is alone


ROW = "Index: Hash; Lookup: One bucket read; Range scans: No; Best for: Exact keys"


@pytest.mark.parametrize("question, terms", [
    ("What is a hash index?", ["hash index"]),  # a row names values; it does not say what the thing is
    ("Why is a hash index fast?", []),  # ... nor why
    ("How does a hash index find a key?", []),  # ... nor how
])
def test_a_table_row_never_opens_what_why_or_how(question, terms):
    prose = "A hash index keeps every key in a bucket chosen by the hash of the key."
    assert _order(question, terms, ROW, prose)[0] == prose
    assert answer_fit(question, terms, ROW) == -1


@pytest.mark.parametrize("question, terms", [
    ("How many bucket reads does a hash index need?", []),  # a number: the row holds it
    ("Hash index vs tree index: which is better for range scans?", ["hash index", "tree index"]),
])
def test_a_table_row_keeps_first_place_for_numbers_and_comparisons(question, terms):
    other = "Indexes are kept in memory while the server runs."
    assert _order(question, terms, ROW, other)[0] == ROW


def test_a_fragment_never_opens_while_another_can():
    texts = ["only the leader accepts writes from clients.", "Each shard holds a slice of the keys."]
    assert _order("How is the data split?", [], *texts)[0] == texts[1]
    assert answer_fit("How is the data split?", [], texts[0]) == -1


@pytest.mark.parametrize("text, leans", [
    ("This process teaches the model to follow rules.", True),
    ("They are often accessed through an API.", True),
    ("But the cost grows with the input.", True),
    ("As a result, reads never wait for the disk.", False),  # a consequence with its own subject
    ("A hash index maps each key to a bucket.", False),
])
def test_what_leans_on_the_sentence_before(text, leans):
    assert leans_back(text) is leans


def test_a_quote_that_leans_back_keeps_its_place_but_is_never_moved_first():
    leaning = "This shard is a slice of the keys that one node holds."  # a definition's shape, but 'This ...'
    assert _order("What is a shard?", ["shard"], "Each node keeps two copies of its data.", leaning)[0] != leaning
    assert _order("What is a shard?", ["shard"], leaning, "Each node keeps two copies of its data.")[0] == leaning


@pytest.mark.parametrize("question, subject, verb", [
    ("How does the router in a mixture of experts decide which experts to use?", {"router"}, ""),
    ("Why are Mixture of Experts models efficient?", {"mixtur", "|moe"}, ""),  # and its initials
    ("Why does LoRA need less memory than full fine-tuning?", {"lora"}, ""),
    ("Why does the page cache matter for a database?", {"page", "cach"}, ""),
    ("Should I shard the index or keep one copy?", {"index"}, "shard"),
    ("What are the weaknesses of small language models?", {"small"}, ""),
    ("How is an instruct model made from a base model?", {"instruct"}, ""),
])
def test_what_a_question_is_about(question, subject, verb):
    assert question_subject(question) == (subject, verb)


def test_a_definition_under_the_terms_other_name_fits_a_what_is_question():
    """'What is RLHF?' is answered by 'Reinforcement Learning from Human Feedback is a method ...': the
    initials name the same thing, so the definition opens instead of a sentence that only uses 'RLHF'."""
    full = "Reinforcement Learning from Human Feedback is a method whereby a model learns from ratings by people."
    other = "RLHF settings live under the trainer key of the config file."
    assert answer_fit("What is RLHF?", ["RLHF"], full) == 3
    assert answer_fit("What is RLHF?", ["RLHF"], other) < 3
    assert answer_fit("What is PPO?", ["PPO"], full) == 0  # other initials: no definition of what was asked


def test_an_extra_quote_opens_only_with_a_plain_fit_no_main_quote_has():
    q, terms = "What does a bloom filter do?", ["bloom filter"]
    main = [SourceSentence("A bloom filter was first described in 1970.", 0),
            SourceSentence("Databases keep one bloom filter per file.", 0)]
    does = SourceSentence("A bloom filter answers whether a key may be in a set, using a few bits per key.", 0)
    aside = SourceSentence("Cuckoo filters are a related structure that supports deletes.", 0)
    opening, rest = extra_opener(q, terms, main, [aside, does])
    assert opening[0] == does and rest == [aside]
    assert answer_first(q, terms, opening)[0] == does
    # a main quote that fits as well keeps the extras after the answer
    fits = [SourceSentence("A bloom filter tells whether a key may be in a set.", 0), *main]
    assert extra_opener(q, terms, fits, [aside, does]) == (fits, [aside, does])
    # an extra with a weaker fit stays an extra
    assert extra_opener(q, terms, main, [aside]) == (main, [aside])


@pytest.mark.parametrize("acronym, text, spelled", [
    ("WAL", "WAL: Write Ahead Log", True),
    ("NCHW", "NCHW: Number of images, Channels, Height, Width", True),  # small words between the capitals
    ("WAL", "FS: File System WAL: Write Ahead Log", True),  # one row of a flattened table of rows
    ("WAL", "WAL: Keep it on a fast disk", False),  # a note on the thing, not its letters
    ("WAL", "The WAL: Write Ahead Log", True),
    ("Wal", "Wal: Write Ahead Log", False),  # not an acronym
])
def test_an_acronym_spelled_out(acronym, text, spelled):
    from kb.text import expands

    assert expands(acronym, text) is spelled


@pytest.mark.parametrize("question, verb", [
    ("How does the KV cache grow as the context gets longer?", "grow"),
    ("How do diffusion language models generate text?", "generate"),  # past generic words
    ("How does the router in a mixture of experts decide which expert to use?", ""),  # a preposition follows
])
def test_the_verb_a_how_question_asks_about(question, verb):
    assert how_verb(question, question_subject(question)[0]) == verb


def test_with_no_quote_fitting_the_kind_the_one_holding_the_asked_condition_opens():
    # every quote is about the index; one holds what was asked of it (no downtime)
    question = "Is there a way to rebuild the index without taking the database offline?"
    texts = ["The index is built from the table each night by a background job.",
             "An online rebuild keeps the database available while the index is rebuilt, so nothing goes offline."]
    assert _order(question, [], *texts)[0] == texts[1]


def test_with_no_quote_fitting_the_kind_a_small_edge_keeps_the_ranking():
    # one more shared word is no reason to move a quote: the ranking's first stays
    question = "Is there a way to install packages offline?"
    texts = ["The installer can work from a local folder of packages.",
             "Packages are installed from the local folder in the order the lock file gives."]
    assert _order(question, [], *texts)[0] == texts[0]


def test_a_question_that_tells_its_situation_first_is_still_asking_for_advice():
    question = "I only have a few hundred support tickets. Which model should I fine-tune from?"
    texts = ["Fine-tuning needs far less data than pretraining, and a few thousand tickets can be enough.",
             "Start fine-tuning from an instruct model when your data is small and its chat format should stay."]
    assert _order(question, [], *texts)[0] == texts[1]


def test_a_quote_naming_the_asked_model_size_opens():
    # a verdict on models in general does not move ahead of the sentence on the size asked about
    question = "Can I train a 30B model on two desktop cards?"
    texts = ["Sharding with 4-bit adapters trains a 30b model on two 24 GB desktop cards.",
             "Not always. Adapters let you train large models on one desktop card."]
    assert _order(question, [], *texts)[0] == texts[0]
    # the size as a range, in a table row, and as an extra past the answer's main quotes
    q = "How much memory does adapter training of a 3-4B model need?"
    main = [SourceSentence("Adapter training cuts memory roughly fourfold against full training.", 0),
            SourceSentence("Model Size: 1B; Adapters: 4-6 GB; Full: 16-20 GB", 0)]
    row = SourceSentence("Model Size: 3-4B; Adapters: 8-10 GB; Full: 40-50 GB", 0)
    opening, _ = extra_opener(q, [], main, [row])
    assert answer_first(q, [], opening)[0] == row
    # every quote naming the size: no quote is set apart, the kind decides
    same = ["A 30B model is large.", "No. A 30B model needs sharding across two cards because it does not fit."]
    assert _order(question, [], *same)[0] == same[1]


def test_the_asked_terms_own_entry_opens_a_definition():
    """'What does preemption mean?': the quote under the heading 'Preemption' (a glossary entry whose body never
    repeats the term) opens, not a neighbouring page's definition of something else; with no such heading, or
    every quote under it, the fit alone decides."""
    q, terms = "What does preemption mean in a serving engine?", ["preemption"]
    other = SourceSentence("Paged attention is a way to store the KV cache in blocks.", 0)
    entry = SourceSentence("Eviction of running requests when KV cache blocks run out.", 1)
    assert answer_first(q, terms, [other, entry]) == [other, entry]
    assert answer_first(q, terms, [other, entry], ["Paged attention", "Preemption"]) == [entry, other]
    assert answer_first(q, terms, [other, entry], ["Preemption", "Preemption"]) == [other, entry]
