"""The trained verifier: loads offline from the committed files and ranks an answer first."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from qa.verifier import MODEL_DIR, Verifier, verifier_input
from qa.verifier_model import candidate_mask

TITLE = "Mont Blanc"
PASSAGE = [
    "Mont Blanc is the highest mountain in the Alps and Western Europe.",
    "It rises 4,806 metres above sea level.",
    "The mountain was first climbed on 8 August 1786 by Jacques Balmat and Michel-Gabriel Paccard.",
    "Today thousands of climbers attempt the summit every summer.",
]


def contexts() -> list[tuple[str, str, str, str]]:
    return [
        (TITLE, PASSAGE[i - 1] if i else "", s, PASSAGE[i + 1] if i + 1 < len(PASSAGE) else "")
        for i, s in enumerate(PASSAGE)
    ]


def test_input_keeps_the_candidate_sentence_whole_and_marked():
    long_prev = "word " * 200
    question, text = verifier_input("When was Mont Blanc first climbed?", TITLE, long_prev, PASSAGE[2], long_prev)
    assert question == "When was Mont Blanc first climbed?"
    assert f">> {PASSAGE[2]} <<" in text
    assert text.startswith("Mont Blanc.")
    assert len(text.split()) < 60  # neighbours are clipped, the candidate is not


def test_only_the_marked_candidate_is_pooled():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(MODEL_DIR), local_files_only=True)
    pairs = [
        verifier_input("Is a >> b?", TITLE, PASSAGE[0], "It rises 4,806 metres.", "Next << one."),
        ("a question", "a text without markers"),
    ]
    batch = tokenizer([a for a, _ in pairs], [b for _, b in pairs], padding=True, return_tensors="pt")
    mask = candidate_mask(**batch)
    tokens = [tokenizer.convert_ids_to_tokens(row) for row in batch["input_ids"]]
    pooled = [[t for t, m in zip(row, mask[i]) if m] for i, row in enumerate(tokens)]
    assert tokenizer.convert_tokens_to_string(pooled[0]) == "it rises 4, 806 metres."
    # no markers (cut off, or another input): every real token, padding excluded
    assert pooled[1] == [t for t, m in zip(tokens[1], batch["attention_mask"][1]) if m]


def test_model_folder_holds_no_pickle():
    names = {p.name for p in MODEL_DIR.iterdir()}
    assert {"model.safetensors", "config.json", "calibration.json", "MODEL_CARD.md"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    assert (MODEL_DIR / "model.safetensors").stat().st_size < 50_000_000


@pytest.fixture(scope="module")
def verifier():
    return Verifier()  # local files only; conftest blocks the network in every test


@pytest.mark.slow
def test_int8_export_ranks_like_the_float_model(verifier):
    torch_model = Verifier(backend="torch")
    for question in ("When was Mont Blanc first climbed?", "How high is Mont Blanc?"):
        fast, exact = verifier.logits(question, contexts()), torch_model.logits(question, contexts())
        assert int(np.argmax(fast)) == int(np.argmax(exact))
        assert np.abs(fast - exact).max() < 1.0  # int8 weights move a logit by well under one unit


@pytest.mark.slow
def test_verifier_ranks_the_answering_sentence_above_unrelated_ones(verifier):
    when = verifier.score("When was Mont Blanc first climbed?", contexts())
    many = verifier.score("How many climbers attempt the summit each summer?", contexts())
    assert when.shape == (4,) and np.all((when > 0) & (when < 1))
    assert when[2] > when[0] and when[2] > when[3]
    assert int(np.argmax(many)) == 3
    # concurrent questions get the same scores as one at a time
    questions = ["When was Mont Blanc first climbed?", "How many climbers attempt the summit each summer?"]
    with ThreadPoolExecutor(4) as pool:
        again = list(pool.map(lambda q: verifier.score(q, contexts()), questions * 2))
    np.testing.assert_allclose(again[0], when, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(again[1], many, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_verifier_ranks_the_answering_sentence_above_its_neighbour(verifier):
    # The sentence before the answer shows it in its context; only the marked sentence is pooled, so it
    # no longer outscores the answer (30 of 35 validation top-1 errors of the first checkpoint).
    when = verifier.score("When was Mont Blanc first climbed?", contexts())
    assert int(np.argmax(when)) == 2


def test_the_answer_phrase_is_the_best_span_inside_the_marked_candidate():
    from transformers import AutoTokenizer

    from qa.verifier import MAX_SPAN_PIECES, answer_phrase

    tokenizer = AutoTokenizer.from_pretrained(str(MODEL_DIR), local_files_only=True)
    question, second = verifier_input("When was it climbed?", TITLE, PASSAGE[1], PASSAGE[2], PASSAGE[3])
    enc = tokenizer(question, second, return_offsets_mapping=True)
    offsets, types = np.array(enc["offset_mapping"]), np.array(enc["token_type_ids"])
    words = [second[a:b] for a, b in offsets]
    start, end = np.zeros(len(words)), np.zeros(len(words))
    first = next(i for i, w in enumerate(words) if w == "8" and types[i] == 1)
    start[first], end[first + 2] = 5.0, 5.0  # "8 August 1786"
    assert answer_phrase(second, start, end, offsets, types) == "8 August 1786"
    # the best span outside the candidate (the title, the neighbours) is never taken
    start[:], end[:] = 0.0, 0.0
    title = next(i for i, w in enumerate(words) if w == "Mont" and types[i] == 1)
    start[title], end[title] = 9.0, 9.0
    assert answer_phrase(second, start, end, offsets, types) != "Mont"
    # nor a span longer than MAX_SPAN_PIECES
    start[:], end[:] = 0.0, 0.0
    inside = [i for i, (a, _) in enumerate(offsets) if types[i] == 1 and a > second.find(">>") + 2]
    start[inside[0]], end[inside[0] + MAX_SPAN_PIECES + 2] = 9.0, 9.0
    got = answer_phrase(second, start, end, offsets, types)
    assert got is not None and len(tokenizer(got, add_special_tokens=False)["input_ids"]) <= MAX_SPAN_PIECES


def test_the_verifier_reads_word_pieces_as_transformers_would():
    """Without transformers at run time, its inputs and offsets are still those of AutoTokenizer."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(MODEL_DIR), local_files_only=True)
    pairs = [
        verifier_input("Who was banned in 2025? " * (20 if i == 0 else 1), "Sanctions", "Before.", s, "After.")
        for i, s in enumerate(["Russia banned Takeshi Iwaya, the foreign minister, in 2025.", "Ja " * 200, "Ok."])
    ]
    expected = hf(
        [a for a, _ in pairs],
        [b for _, b in pairs],
        padding=True,
        truncation="longest_first",
        max_length=128,
        return_tensors="np",
        return_offsets_mapping=True,
    )
    batch, offsets = Verifier().encode(pairs)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert np.array_equal(batch[name], expected[name]), name
    assert np.array_equal(offsets, expected["offset_mapping"])
