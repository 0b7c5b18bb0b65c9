"""The bundled MiniLM as int8 ONNX (the default) against the float torch model it is exported from."""

import numpy as np
import pytest

from qa.embed import BACKENDS, MiniLMEmbedder
from tests.conftest import CORPUS

TEXTS = [
    "Who was the Japanese foreign minister banned in 2025?",
    "Russia permanently bans nine Japanese citizens, including Foreign Minister Takeshi Iwaya.",
    "Japan and Russia signed a salmon fishing deal in 2024.",
]


@pytest.fixture(scope="module")
def torch_embedder():
    return MiniLMEmbedder(backend="torch").load()


def test_the_int8_model_gives_nearly_the_torch_vectors_under_its_own_name(minilm, torch_embedder):
    article = (CORPUS / "000_a07452a012145e1e.txt").read_text(encoding="utf-8")
    texts = TEXTS + [p for p in article.split("\n") if len(p) > 40][:20] + [article]  # the last one is cut at 256
    int8, full = minilm.encode(texts), torch_embedder.encode(texts)
    assert int8.shape == full.shape == (len(texts), 384) and int8.dtype == np.float32
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    assert (int8 * full).sum(1).min() > 0.97  # cosine to the float model's vector of the same text
    assert minilm.name == BACKENDS["onnx"] != torch_embedder.name  # an index records which one made it


def test_a_text_gets_the_same_vector_alone_or_among_others(minilm):
    alone = minilm.encode([TEXTS[1]])[0]
    among = minilm.encode(TEXTS * 4 + ["a much longer text about sanctions " * 30])[1]
    assert np.array_equal(alone, among)


def test_the_int8_model_ranks_the_answer_first(minilm):
    q, *passages = minilm.encode(TEXTS)
    assert np.argmax(np.array(passages) @ q) == 0


def test_an_unknown_backend_is_refused_in_one_line():
    with pytest.raises(ValueError, match="unknown embedder backend 'gpu': use onnx or torch"):
        MiniLMEmbedder(backend="gpu")


def test_build_turns_run_two_at_a_time_in_order():
    """An ONNX build encodes on two threads: two turns run side by side, a third waits for one of them,
    and turns start in the order they were asked for (a question waits behind at most the turns under way)."""
    import threading
    import time

    from qa.embed import _Turns

    turns, started, inside, most = _Turns(capacity=2), [], [0], [0]
    lock = threading.Lock()

    def take(n):
        with turns.take():
            with lock:
                started.append(n)
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = []
    for n in range(6):
        threads.append(threading.Thread(target=take, args=(n,)))
        threads[-1].start()
        time.sleep(0.005)  # ask in order
    for t in threads:
        t.join()
    assert started == list(range(6)) and most[0] == 2


def test_a_parallel_build_gives_each_text_the_vector_it_has_alone(minilm):
    article = (CORPUS / "000_a07452a012145e1e.txt").read_text(encoding="utf-8")
    texts = [p for p in article.split("\n") if len(p) > 40] + TEXTS
    together = minilm.encode(texts)  # more than a question's few texts: turns on two threads
    alone = np.vstack([minilm.encode([t]) for t in texts])
    assert np.array_equal(together, alone)


def test_an_index_folder_keeps_the_export_it_was_built_with(tmp_path, minilm):
    from qa import onnx_models

    keeper = MiniLMEmbedder(keep_export=tmp_path / "index" / "models").load()
    kept = list((tmp_path / "index" / "models").glob("minilm-*/model.int8.onnx"))
    assert len(kept) == 1
    shared = onnx_models.cache_dir() / kept[0].parent.name / kept[0].name
    assert kept[0].stat().st_size == shared.stat().st_size  # linked (or copied) from the one shared export
    assert np.array_equal(keeper.encode(TEXTS), minilm.encode(TEXTS))
