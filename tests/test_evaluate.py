"""`qa eval`: reading question sets, running them through the assistant, resuming, comparing."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa import Assistant, HashEmbedder, cli
from qa.entities import NoTagger
from qa.errors import QuestionFileError, RunMismatch, UserError
from qa.eval import RunSettings, Summary, cached_index, compare, load_questions, run_eval
from qa.eval.metrics import Result, by_type, compute, read_results
from qa.eval.questions import load_split
from qa.eval.report import html_report, markdown
from qa.eval.run import corpus_key
from tests.conftest import EVAL, IWAYA_DOC

IWAYA_QUOTE = (
    "Russia has permanently banned nine Japanese citizens, including Foreign Minister Takeshi Iwaya, "
    "from entering the country."
)
SANCTIONS_DOC = "003_56745e45d85cd26e.txt"


def write(path: Path, lines: list[dict] | str) -> Path:
    text = lines if isinstance(lines, str) else "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


def small_set(tmp_path: Path) -> Path:
    return write(
        tmp_path / "questions.jsonl",
        [
            {
                "id": "q1",
                "question": "How many Japanese citizens did Russia permanently ban in March 2025?",
                "answers": ["nine", "9"],
                "evidence": [{"doc": IWAYA_DOC, "quote": IWAYA_QUOTE}],
                "type": "numeric",
            },
            {
                "id": "q2",
                "question": "Which foreign minister did Russia ban?",
                "answers": ["Takeshi Iwaya"],
                "doc_ids": [IWAYA_DOC],
                "type": "person",
                "note": "kept as is",
            },
            {
                "id": "q3",
                "question": "What is the population of the Kuril Islands?",
                "answers": [],
                "type": "unanswerable",
            },
            {
                "id": "c1",
                "turns": [
                    {
                        "question": "Which Japanese foreign minister did Russia ban in 2025?",
                        "answers": ["Takeshi Iwaya"],
                    },
                    {"question": "How many people were on that list?", "answers": ["nine"]},
                ],
                "evidence": [{"doc": IWAYA_DOC, "quote": IWAYA_QUOTE}],
            },
        ],
    )


# -- reading ----------------------------------------------------------------------------------


def test_reads_json_lines_with_quotes_doc_ids_and_conversations(tmp_path):
    qs = load_questions(small_set(tmp_path))
    assert [len(g) for g in qs.groups] == [1, 1, 1, 2]
    q1, q2, q3, t1, t2 = qs.questions
    assert q1.evidence[0].quote == IWAYA_QUOTE and q1.type == "numeric"
    assert q2.evidence[0].doc == IWAYA_DOC and q2.evidence[0].quote is None and q2.fields == {"note": "kept as is"}
    assert not q3.answerable and q3.evidence == ()
    assert (t1.id, t1.conversation, t1.turn, t2.id, t2.turn) == ("c1#1", "c1", 1, "c1#2", 2)
    # The conversation's quote locates its last turn's answer; earlier turns are held to the quoted document.
    assert t2.evidence[0].quote == IWAYA_QUOTE
    assert t1.evidence[0].doc == IWAYA_DOC and t1.evidence[0].quote is None
    assert t1.type == t2.type == "conversation"


def test_reads_the_bundled_sets():
    dev = load_questions(EVAL / "dev_questions.jsonl")
    chats = load_questions(EVAL / "dev_conversations.jsonl")
    assert len(dev.questions) == 35 and sum(q.answerable for q in dev.questions) == 30
    assert [len(g) for g in chats.groups] == [2, 2, 2]


def test_reads_squad_json(tmp_path):
    squad = {
        "version": "1.1",
        "data": [
            {
                "title": "Super_Bowl_50",
                "paragraphs": [
                    {
                        "context": "...",
                        "qas": [
                            {
                                "id": "a1",
                                "question": "Who won?",
                                "answers": [
                                    {"text": "Denver Broncos", "answer_start": 1},
                                    {"text": "Denver Broncos", "answer_start": 1},
                                    {"text": "the Broncos", "answer_start": 8},
                                ],
                            }
                        ],
                    },
                    {
                        "context": "...",
                        "qas": [
                            {
                                "id": "a2",
                                "question": "Where?",
                                "answers": [],
                                "is_impossible": True,
                                "plausible_answers": [{"text": "x", "answer_start": 0}],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    qs = load_questions(write(tmp_path / "dev.json", json.dumps(squad)))
    a1, a2 = qs.questions
    assert a1.answers == ("Denver Broncos", "the Broncos")
    assert a1.evidence[0].doc == "Super_Bowl_50#0" and a1.evidence[0].quote is None
    assert a2.answers == () and a2.evidence[0].doc == "Super_Bowl_50#1"
    assert a1.article == a2.article == "Super_Bowl_50"


def test_reads_csv(tmp_path):
    path = write(
        tmp_path / "q.csv",
        "question,answers,type,source\n"
        '"Who was banned, then?",Takeshi Iwaya|Iwaya,person,sheet 1\n'
        "What is the population of the Kuril Islands?,,unanswerable,sheet 2\n",
    )
    a, b = load_questions(path).questions
    assert (a.id, a.question, a.answers, a.type, a.fields) == (
        "line-2",
        "Who was banned, then?",
        ("Takeshi Iwaya", "Iwaya"),
        "person",
        {"source": "sheet 1"},
    )
    assert b.answers == () and b.id == "line-3"


@pytest.mark.parametrize(
    "name, content, where, what",
    [
        (
            "bad.jsonl",
            '{"id": "a", "question": "q?", "answers": []}\n\n{"id": "b", "question": \n',
            ":3:",
            "not valid JSON",
        ),
        ("bad.jsonl", '{"id": "a", "question": "q?"}\n', ":1:", "missing 'answers'"),
        ("bad.jsonl", '{"id": "a", "question": "q?", "answers": "nine"}\n', ":1:", "'answers' must be a list"),
        (
            "bad.jsonl",
            '{"id": "a", "question": "q?", "answers": [], "evidence": [{"doc": "x.txt"}]}\n',
            ":1:",
            "evidence[0]",
        ),
        (
            "bad.jsonl",
            '{"id": "a", "question": "q?", "answers": []}\n{"id": "a", "question": "r?", "answers": []}\n',
            ":2:",
            "duplicate id 'a'",
        ),
        (
            "bad.jsonl",
            '{"id": "c", "turns": [{"question": "q?", "answers": []}, {"answers": []}]}\n',
            ":1 (turn 2):",
            "missing or empty 'question'",
        ),
        ("bad.csv", "question,answer\nq?,a\n", ":1:", "missing column 'answers'"),
        ("bad.csv", "question,answers\nq?,a\nr?,b,extra\n", ":3:", "more fields"),
        (
            "bad.json",
            '{"data": [{"title": "T", "paragraphs": [{"qas": [{"id": "x", "answers": []}]}]}]}',
            ": data[0].paragraphs[0].qas[0]:",
            "missing or empty 'question'",
        ),
        ("bad.txt", "question?", "bad.txt:", "unknown question file type"),
    ],
)
def test_malformed_input_names_file_line_and_problem(tmp_path, name, content, where, what):
    path = write(tmp_path / name, content)
    with pytest.raises(QuestionFileError) as err:
        load_questions(path)
    message = str(err.value)
    assert isinstance(err.value, UserError)  # the CLI and the app show it as one line
    assert message.startswith(str(path)) and where in message and what in message
    assert "\n" not in message


# -- running ----------------------------------------------------------------------------------


def test_run_writes_results_summary_and_reports(fake_assistant, tmp_path, monkeypatch):
    def second_search(*args, **kwargs):
        raise AssertionError("the evaluator searched apart from ask: the ranking must be the answer's own")

    monkeypatch.setattr(fake_assistant, "retrieve", second_search)
    qs = load_questions(small_set(tmp_path))
    seen = []
    summary = run_eval(fake_assistant, qs, tmp_path / "run", k=3, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 5) and seen[-1] == (5, 5)
    lines = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q2", "q3", "c1#1", "c1#2"]
    for x in lines:
        assert {
            "id",
            "question",
            "answer",
            "short_answer",
            "abstained",
            "citations",
            "retrieved",
            "latency_ms",
            "answers",
            "evidence",
            "type",
            "confidence",
        } <= set(x)
        assert isinstance(x["confidence"], float) and 0 <= x["confidence"] <= 1
        assert len(x["retrieved"]) == 10 and x["answer_k"] == 3 and x["ranking_matches_answer"]
        for c in x["citations"]:  # Citation.to_dict(): the documented fields and more
            assert {
                "doc",
                "chunk_id",
                "start",
                "end",
                "text",
                "n",
                "title",
                "date",
                "sentence_start",
                "sentence_end",
            } <= set(c)
        for h in x["retrieved"]:
            assert set(h) == {"doc", "chunk_id", "start", "end", "score"}
    assert lines[0]["evidence"][0]["spans"] == [
        [
            fake_assistant.document(IWAYA_DOC).text.index("Russia has perm"),
            fake_assistant.document(IWAYA_DOC).text.index(" The Russian F"),
        ]
    ]
    assert lines[1]["fields"] == {"note": "kept as is"}
    stored = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert stored["complete"] and stored["questions_done"] == 5
    assert stored["settings"]["k"] == 3 and stored["settings"]["model"] == "hash-bow"
    assert stored["settings"]["index_fingerprint"] == fake_assistant.state.data.fingerprint
    assert stored["answering"] == fake_assistant.describe()  # the answering settings, as the assistant tells them
    assert stored["answering"]["threshold"] == fake_assistant.threshold
    assert stored["versions"]["qa-offline"] and set(stored["metrics"]["by_type"]) == {
        "conversation",
        "numeric",
        "person",
        "unanswerable",
    }
    assert stored["metrics"]["overall"] == summary.overall.to_dict()
    # Every metric can be recomputed from results.jsonl alone.
    assert compute(read_results(tmp_path / "run" / "results.jsonl")).to_dict() == stored["metrics"]["overall"]
    names = {
        "hit@1",
        "hit@3",
        "hit@5",
        "hit@10",
        "all@1",
        "mrr@10",
        "answer_hit",
        "answer_recall",
        "short_em",
        "short_f1",
        "evidence_cited",
        "citation_support",
        "abstain_rate",
        "false_abstain_rate",
        "auroc",
        "abstain@fa10",
        "latency_ms_p50",
        "latency_ms_p95",
    }
    assert names <= set(stored["metrics"]["overall"])
    assert all(names <= set(m) for m in stored["metrics"]["by_type"].values())
    assert stored["metrics"]["overall"]["auroc"] is not None  # both kinds asked, each with a confidence
    assert stored["metrics"]["by_type"]["numeric"]["auroc"] is None  # one kind only
    report = (tmp_path / "run" / "report.md").read_text()
    assert report.startswith("# Evaluation of questions.jsonl")
    assert "| auroc |" in report and "| abstain@fa10 |" in report
    assert "| type | questions | hit@5 | answer_hit | evidence_cited | abstain_rate | hit@1 |" in report
    assert "false_abstain_rate | auroc | abstain@fa10 |" in report  # per type too


def test_html_report_is_self_contained_and_escaped(fake_assistant, tmp_path):
    path = write(
        tmp_path / "q.jsonl",
        [
            {
                "id": "x<1>",
                "question": "<script>alert('boo')</script> Who is Sanae Takaichi?",
                "answers": ["<b>nope</b>"],
                "type": "a&b",
            },
            {"id": "x2", "question": "How many Japanese citizens did Russia ban?", "answers": ["nine"]},
        ],
    )
    run_eval(fake_assistant, load_questions(path), tmp_path / "run")
    page = (tmp_path / "run" / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;nope&lt;/b&gt;" in page
    assert "x&lt;1&gt;" in page and "a&amp;b" in page
    assert page.count("<svg") == 4 and "Risk–coverage" in page  # the answers carry confidences
    assert not re.search(r"""(src|href)\s*=|<link|@import|url\(""", page)  # no external assets


def hand_summary(results: list[Result], answering: dict) -> Summary:
    settings = RunSettings("q.jsonl", "0" * 64, 5, "hybrid", 10, "corpus", "index", "m", 8, "f", None)
    return Summary(Path("run"), settings, compute(results), by_type(results), len(results), (), 1.0, 0, answering)


def test_risk_coverage_plot_marks_the_runs_threshold_when_confidences_are_there():
    results = [
        hand_result("right", "nine [1]", confidence=0.9),
        hand_result("wrong", "ten [1]", confidence=0.6),
        hand_result("guess", "a guess [1]", answers=(), confidence=0.7),
        hand_result("declined", "The documents do not say.", abstained=True, answers=(), confidence=0.1),
    ]
    page = html_report(hand_summary(results, {"threshold": 0.5}), results)
    assert page.count("<svg") == 4 and "Risk–coverage" in page
    # At 0.5 three of the four are answered, two of them wrongly.
    assert "<title>threshold 0.500: coverage 0.750, error rate 0.667</title>" in page
    assert ">threshold 0.50</text>" in page
    no_threshold = html_report(hand_summary(results, {"answerer": "X"}), results)
    assert "Risk–coverage" in no_threshold and "threshold 0.5" not in no_threshold
    old = [replace(r, confidence=None) for r in results]  # lines written before confidences were recorded
    page = html_report(hand_summary(old, {"threshold": 0.5}), old)
    assert page.count("<svg") == 3 and "Risk–coverage" not in page
    assert "| auroc | – |" in markdown(hand_summary(old, {"threshold": 0.5}), old)


def test_evidence_quote_not_found_is_reported_not_scored(fake_assistant, tmp_path):
    path = write(
        tmp_path / "q.jsonl",
        [
            {
                "id": "ok",
                "question": "How many Japanese citizens did Russia ban?",
                "answers": ["nine"],
                "evidence": [{"doc": IWAYA_DOC, "quote": IWAYA_QUOTE}],
            },
            {
                "id": "typo",
                "question": "Who is the foreign minister?",
                "answers": ["Takeshi Iwaya"],
                "evidence": [{"doc": IWAYA_DOC, "quote": "Foreign Minister Takeshi Iwayaa"}],
            },
            {
                "id": "nodoc",
                "question": "Who is the foreign minister?",
                "answers": ["Takeshi Iwaya"],
                "evidence": [{"doc": "missing.txt", "quote": "anything"}],
            },
        ],
    )
    summary = run_eval(fake_assistant, load_questions(path), tmp_path / "run")
    assert [qid for qid, _ in summary.evidence_not_found] == ["typo", "nodoc"]
    assert "quote not found in 000_a07452a012145e1e.txt" in summary.evidence_not_found[0][1]
    assert "'missing.txt' is not in the corpus" in summary.evidence_not_found[1][1]
    assert summary.overall.scored_for_evidence == 1 and summary.overall.evidence_not_found == 2
    stored = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [x["id"] for x in stored["evidence_not_found"]] == ["typo", "nodoc"]
    assert "Evidence not found in the corpus (2)" in (tmp_path / "run" / "report.md").read_text()
    lines = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert lines[1]["evidence"] == [{"doc": IWAYA_DOC, "quote": "Foreign Minister Takeshi Iwayaa", "spans": []}]
    assert lines[1]["evidence_problems"] == [summary.evidence_not_found[0][1]]


class Interrupt(Exception):
    pass


def stop_after(n: int):
    def progress(done: int, total: int) -> None:
        if done >= n:
            raise Interrupt

    return progress


def test_resume_after_interruption_finishes_without_duplicates(fake_assistant, tmp_path):
    qs = load_questions(small_set(tmp_path))
    out = tmp_path / "run"
    with pytest.raises(Interrupt):
        run_eval(fake_assistant, qs, out, progress=stop_after(4))  # stops inside the conversation, after turn 1
    assert [r.id for r in read_results(out / "results.jsonl")] == ["q1", "q2", "q3", "c1#1"]
    assert not (out / "summary.json").exists()
    with open(out / "results.jsonl", "a") as fh:
        fh.write('{"id": "half-writ')  # a line cut off by the kill
    summary = run_eval(fake_assistant, qs, out)
    ids = [r.id for r in read_results(out / "results.jsonl")]
    assert sorted(ids) == ["c1#1", "c1#2", "q1", "q2", "q3"] and len(ids) == len(set(ids))
    assert summary.resumed == 3  # the half-done conversation was asked again from its first turn
    assert summary.complete and summary.overall.questions == 5


def test_resume_refuses_a_run_with_other_settings(fake_assistant, tmp_path):
    qs = load_questions(small_set(tmp_path))
    with pytest.raises(Interrupt):
        run_eval(fake_assistant, qs, tmp_path / "run", k=5, progress=stop_after(1))
    with pytest.raises(RunMismatch, match=r"k 5 → 3"):
        run_eval(fake_assistant, qs, tmp_path / "run", k=3)


def test_answering_settings_are_recorded_but_do_not_block_a_resume(fake_assistant, tmp_path, monkeypatch):
    qs = load_questions(small_set(tmp_path))
    with pytest.raises(Interrupt):
        run_eval(fake_assistant, qs, tmp_path / "run", progress=stop_after(1))
    monkeypatch.setattr(fake_assistant, "describe", lambda: {"threshold": 0.5, "weight": 2.0})
    summary = run_eval(fake_assistant, qs, tmp_path / "run")
    assert summary.resumed == 1 and summary.complete
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["answering"] == {"threshold": 0.5, "weight": 2.0}
    assert "answering" not in json.loads((tmp_path / "run" / "run.json").read_text())


# -- splits -----------------------------------------------------------------------------------


def squad_like(tmp_path: Path) -> tuple[Path, Path]:
    """SQuAD-style questions of two articles (doc ids ``<title>#<paragraph>``), and a split of them."""
    questions = write(
        tmp_path / "squad.jsonl",
        [
            {"id": "a1", "question": "Where is Normandy?", "answers": ["France"], "doc_ids": ["Normans#0"]},
            {"id": "b1", "question": "What is a prime?", "answers": ["a number"], "doc_ids": ["Prime_number#1"]},
            {"id": "a2", "question": "Who was Rollo?", "answers": ["a Viking"], "doc_ids": ["Normans#3", "Other#1"]},
            {  # unanswerable SQuAD 2.0: no doc_ids, its article is that of the paragraph it was written against
                "id": "u1",
                "question": "Who gave their name to Normandy in the 1000's?",
                "answers": [],
                "doc_ids": [],
                "is_impossible": True,
                "source_doc_id": "Normans#0",
            },
            {
                "id": "u2",
                "question": "What is Fermat?",
                "answers": [],
                "doc_ids": [],
                "source_doc_id": "Prime_number#2",
            },
            {"id": "x", "question": "About nothing in particular?", "answers": []},  # no article: in no split
        ],
    )
    splits = write(
        tmp_path / "splits.json", json.dumps({"about": "a note", "train": ["Prime_number"], "test": ["Normans"]})
    )
    return questions, splits


def test_split_keeps_the_questions_of_its_articles(tmp_path):
    path, splits = squad_like(tmp_path)
    test = load_questions(path, split=f"{splits}:test")
    assert [q.id for q in test.questions] == ["a1", "a2", "u1"]
    assert test.split.startswith("splits.json:test (1 article, ")
    train = load_questions(path).only_split(load_split(f"{splits}:train"))
    assert [q.id for q in train.questions] == ["b1", "u2"] and train.split.startswith("splits.json:train")
    both = load_questions(path).only_articles(["Normans", "Prime_number"])
    assert [q.id for q in both.questions] == ["a1", "b1", "a2", "u1", "u2"] and both.split.startswith("2 articles, ")
    assert load_questions(path).split is None


def test_split_keeps_a_conversation_whole(tmp_path):
    qs = load_questions(small_set(tmp_path)).only_articles([IWAYA_DOC])  # a file corpus: the article is the file
    assert [q.id for q in qs.questions] == ["q1", "q2", "c1#1", "c1#2"]  # q3 has no gold document


@pytest.mark.parametrize(
    "spec, what",
    [
        ("{splits}:dev", "no split 'dev' (it has 'train', 'test')"),
        ("{splits}", "give a split as FILE:NAME"),
        ("{tmp}/none.json:test", "no such split file"),
        ("{bad}:test", "not a JSON split file"),
    ],
)
def test_bad_split_is_one_line(tmp_path, spec, what):
    path, splits = squad_like(tmp_path)
    bad = write(tmp_path / "bad.json", "{not json")
    with pytest.raises(QuestionFileError, match=re.escape(what)) as err:
        load_questions(path, split=spec.format(splits=splits, tmp=tmp_path, bad=bad))
    assert "\n" not in str(err.value)


def test_split_without_questions_is_refused(tmp_path):
    path, _ = squad_like(tmp_path)
    with pytest.raises(QuestionFileError, match=r"no question is about the articles selected \(1 article, "):
        load_questions(path).only_articles(["Beyoncé"])


def test_run_records_its_split_and_a_resume_with_another_is_refused(fake_assistant, tmp_path):
    splits = write(tmp_path / "splits.json", json.dumps({"train": ["other.txt"], "test": [IWAYA_DOC]}))
    qs = load_questions(small_set(tmp_path))
    out = tmp_path / "run"
    with pytest.raises(Interrupt):
        run_eval(fake_assistant, qs, out, split=f"{splits}:test", progress=stop_after(1))
    settings = json.loads((out / "run.json").read_text())
    assert settings["split"] == load_split(f"{splits}:test").label
    with pytest.raises(RunMismatch, match=r"split 'splits.json:test \(1 article, [0-9a-f]+\)' → None"):
        run_eval(fake_assistant, qs, out)
    summary = run_eval(fake_assistant, load_questions(small_set(tmp_path), split=f"{splits}:test"), out)
    assert summary.resumed == 1 and summary.complete and summary.questions_total == 4
    assert [r.id for r in read_results(out / "results.jsonl")] == ["q1", "q2", "c1#1", "c1#2"]
    assert json.loads((out / "summary.json").read_text())["settings"]["split"] == settings["split"]


# -- comparing --------------------------------------------------------------------------------


def stored_run(folder: Path, results: list[Result]) -> Path:
    folder.mkdir()
    write(folder / "results.jsonl", [r.to_dict() for r in results])
    return folder


def hand_result(
    qid: str, answer: str, abstained: bool = False, answers=("nine",), confidence: float | None = None
) -> Result:
    return Result(
        id=qid,
        question=f"{qid}?",
        type="t",
        answers=tuple(answers),
        evidence=(),
        evidence_problems=(),
        answer=answer,
        short_answer=None,
        abstained=abstained,
        citations=(),
        retrieved=(),
        answer_k=5,
        latency_ms=10.0,
        confidence=confidence,
    )


def test_compare_gives_deltas_and_changed_questions(tmp_path):
    a = stored_run(
        tmp_path / "a",
        [
            hand_result("q1", "nine [1]"),
            hand_result("q2", "ten [1]"),
            hand_result("q3", "nine [1]"),
            hand_result("gone", "x"),
        ],
    )
    b = stored_run(
        tmp_path / "b",
        [
            hand_result("q1", "nine [1]"),
            hand_result("q2", "nine [1]"),
            hand_result("q3", "", abstained=True),
            hand_result("new", "x"),
        ],
    )
    comparison = compare(a, b)
    assert comparison.metrics["overall"]["answer_hit"] == (0.5, 0.5)
    assert comparison.metrics["overall"]["false_abstain_rate"] == (0.0, 0.25)
    assert [(c.id, c.before, c.after) for c in comparison.changed] == [
        ("q2", "wrong", "correct"),
        ("q3", "correct", "abstained"),
    ]
    assert (comparison.only_a, comparison.only_b) == (("gone",), ("new",))
    assert comparison.to_dict()["metrics"]["overall"]["false_abstain_rate"]["delta"] == 0.25

    run = CliRunner().invoke(cli.main, ["eval", "--compare", str(a), str(b)])
    assert run.exit_code == 0, run.output
    assert "| false_abstain_rate | 0.000 | 0.250 | +0.25 |" in run.output
    assert "| q3 | q3? | correct | abstained |" in run.output
    assert json.loads((b / "compare-a-vs-b.json").read_text())["changed"][0]["id"] == "q2"
    assert (b / "compare-a-vs-b.md").read_text() == run.output


OLD_CITATION = ("n", "doc", "chunk_id", "start", "end", "text")  # what results.jsonl held before Citation.to_dict


def old_format(line: dict) -> dict:
    """A results.jsonl line as the code before the shared records wrote it."""
    return {**line, "citations": [{key: c[key] for key in OLD_CITATION} for c in line["citations"]]}


def test_runs_written_by_older_code_are_read_compared_and_resumed(fake_assistant, tmp_path):
    qs = load_questions(small_set(tmp_path))
    new = tmp_path / "new"
    run_eval(fake_assistant, qs, new)
    lines = [json.loads(x) for x in (new / "results.jsonl").read_text().splitlines()]
    assert any(x["citations"] for x in lines)
    old = tmp_path / "old"
    old.mkdir()
    (old / "run.json").write_text((new / "run.json").read_text())
    write(old / "results.jsonl", [old_format(x) for x in lines])

    read_old, read_new = read_results(old / "results.jsonl"), read_results(new / "results.jsonl")
    for a, b in zip(read_old, read_new, strict=True):
        for c_old, c_new in zip(a.citations, b.citations, strict=True):
            assert (c_old.title, c_old.date, c_old.sentence_start, c_old.sentence_end) == (
                "",
                None,
                c_old.start,
                c_old.end,
            )  # an old citation cites its whole passage
            assert (c_old.n, c_old.doc, c_old.chunk_id, c_old.start, c_old.end, c_old.text) == (
                c_new.n,
                c_new.doc,
                c_new.chunk_id,
                c_new.start,
                c_new.end,
                c_new.text,
            )
        assert a.retrieved == b.retrieved
    assert compute(read_old) == compute(read_new)

    comparison = compare(old, new)
    assert comparison.changed == () and comparison.only_a == comparison.only_b == ()
    assert all(a == b for values in comparison.metrics.values() for a, b in values.values())

    summary = run_eval(fake_assistant, qs, old)  # resuming an old run keeps every answer, now in today's format
    assert summary.resumed == 5 and summary.overall == compute(read_new)
    assert all("sentence_start" in c for x in read_results(old / "results.jsonl") for c in x.to_dict()["citations"])


def test_compare_of_a_folder_without_results_fails_with_one_line(tmp_path):
    run = CliRunner().invoke(cli.main, ["eval", "--compare", str(tmp_path), str(tmp_path)])
    assert run.exit_code == 2 and run.output.count("\n") == 1 and "no results.jsonl" in run.output


# -- command line -----------------------------------------------------------------------------


@pytest.fixture
def fake_cli(monkeypatch, tmp_path):
    """`qa` with the fast fake embedder, and the index cache in a temporary folder."""
    monkeypatch.setattr(
        cli,
        "Assistant",
        lambda corpus, index, **kw: Assistant(corpus, index, embedder=HashEmbedder(), tagger=NoTagger(), **kw),
    )
    monkeypatch.setattr("qa.eval.run.cache_home", lambda: tmp_path / "cache")  # model exports stay cached
    return CliRunner()


def test_cli_eval_runs_and_resumes(fake_cli, corpus_copy, tmp_path):
    args = [
        "eval",
        str(small_set(tmp_path)),
        "--corpus",
        str(corpus_copy),
        "--index",
        str(tmp_path / "index"),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    run = fake_cli.invoke(cli.main, args)
    assert run.exit_code == 0, run.output
    assert "5 of 5 questions (4 answerable, 1 unanswerable)" in run.output and "hit@1" in run.output
    again = fake_cli.invoke(cli.main, [*args, "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["resumed"] == 5
    assert len(read_results(tmp_path / "run" / "results.jsonl")) == 5


def test_cli_resume_continues_the_latest_run(fake_cli, corpus_copy, tmp_path):
    args = [
        "eval",
        str(small_set(tmp_path)),
        "--corpus",
        str(corpus_copy),
        "--index",
        str(tmp_path / "index"),
        "--no-progress",
        "--resume",
    ]
    none = fake_cli.invoke(cli.main, args)
    assert none.exit_code == 2 and "no run to resume" in none.output
    with pytest.raises(Interrupt):
        run_eval(
            Assistant(corpus_copy, tmp_path / "index", embedder=HashEmbedder(), tagger=NoTagger()),
            load_questions(small_set(tmp_path)),
            tmp_path / "runs" / "first",
            progress=stop_after(2),
        )
    run = fake_cli.invoke(cli.main, [*args, "--json"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["resumed"] == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["first"]


def test_cli_eval_bad_input_is_one_line_naming_file_and_line(fake_cli, tmp_path):
    bad = write(tmp_path / "bad.jsonl", '{"id": "a", "question": "q?", "answers": []}\nnot json\n')
    run = fake_cli.invoke(cli.main, ["eval", str(bad), "--out", str(tmp_path / "run"), "--no-progress"])
    assert run.exit_code == 2
    assert run.output == f"error: {bad}:2: not valid JSON (Expecting value at column 1)\n"
    missing = fake_cli.invoke(cli.main, ["eval"])
    assert missing.exit_code == 2 and "give a question file" in missing.output


def test_cli_eval_prints_evidence_not_found(fake_cli, corpus_copy, tmp_path):
    path = write(
        tmp_path / "q.jsonl",
        [
            {
                "id": "typo",
                "question": "Who is the foreign minister?",
                "answers": ["Takeshi Iwaya"],
                "evidence": [{"doc": IWAYA_DOC, "quote": "no such words here"}],
            }
        ],
    )
    run = fake_cli.invoke(
        cli.main,
        [
            "eval",
            str(path),
            "--corpus",
            str(corpus_copy),
            "--index",
            str(tmp_path / "index"),
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ],
    )
    assert run.exit_code == 0, run.output
    assert "evidence not found for typo: quote not found in 000_a07452a012145e1e.txt" in run.output


def test_another_corpus_gets_its_own_cached_index(fake_cli, corpus_copy, tmp_path):
    key = corpus_key(corpus_copy)
    args = ["eval", str(small_set(tmp_path)), "--corpus", str(corpus_copy), "--no-progress", "--json"]
    run = fake_cli.invoke(cli.main, [*args, "--out", str(tmp_path / "run1")])
    assert run.exit_code == 0, run.output
    index = tmp_path / "cache" / f"index-{key}"
    assert json.loads(run.output)["settings"]["index"] == str(index) == str(cached_index(corpus_copy))
    assert (index / "CURRENT").exists()
    (corpus_copy / "extra.txt").write_text("Extra article\n\nA new paragraph about something else entirely.\n")
    assert corpus_key(corpus_copy) != key


# -- the real model on the dev sets -------------------------------------------------------------


def recompute_floors(path: Path) -> dict:
    """The quality floors of issue 2, from results.jsonl alone (plain JSON, none of qa's scoring code)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def norm(text: str) -> str:
        text = re.sub(r"\[\d+\]", " ", text.lower()).replace("’s", "").replace("'s", "")
        text = re.sub(r"\b(a|an|the)\b", " ", re.sub(r"[^\w\s]", "", text))
        return " ".join(text.split())

    def hit(row: dict) -> bool:
        return not row["abstained"] and any(f" {norm(a)} " in f" {norm(row['answer'])} " for a in row["answers"])

    def cited(row: dict) -> bool:
        return any(
            c["doc"] == e["doc"]
            and (
                e["spans"] is None
                or any(2 * (min(c["end"], s[1]) - max(c["start"], s[0])) >= s[1] - s[0] for s in e["spans"])
            )
            for c in row["citations"]
            for e in row["evidence"]
        )

    answerable = [r for r in rows if r["answers"]]
    return {
        "rows": rows,
        "answer_hit": sum(map(hit, answerable)) / len(answerable),
        "evidence_cited": sum(map(cited, answerable)) / len(answerable),
        "declined": sum(r["abstained"] for r in rows if not r["answers"]),
        "false_abstains": sum(r["abstained"] for r in answerable),
        "hits": {r["id"]: hit(r) for r in rows},
    }


@pytest.mark.model
def test_dev_sets_reach_the_quality_floors(real_assistant, tmp_path):
    dev = run_eval(real_assistant, load_questions(EVAL / "dev_questions.jsonl"), tmp_path / "dev")
    chats = run_eval(real_assistant, load_questions(EVAL / "dev_conversations.jsonl"), tmp_path / "chats")
    assert dev.evidence_not_found == () and chats.evidence_not_found == ()
    for run in ("dev", "chats"):  # the ranking scored is the answer's own search: its first k are the answer's
        assert all(r.ranking_matches_answer for r in read_results(tmp_path / run / "results.jsonl"))
    floors = recompute_floors(tmp_path / "dev" / "results.jsonl")
    assert floors["answer_hit"] == pytest.approx(dev.overall.answer_hit)
    assert floors["evidence_cited"] == pytest.approx(dev.overall.evidence_cited)
    report = (
        f"answer_hit {floors['answer_hit']:.3f}, evidence_cited {floors['evidence_cited']:.3f}, "
        f"declined {floors['declined']}/5, false abstains {floors['false_abstains']}"
    )
    # Floors since the threshold is chosen on SQuAD v2 train articles instead of these questions (issue 8).
    assert floors["answer_hit"] >= 0.85, report
    assert floors["evidence_cited"] >= 0.85, report
    assert floors["declined"] >= 4, report
    assert floors["false_abstains"] <= 3, report
    second_turns = recompute_floors(tmp_path / "chats" / "results.jsonl")["hits"]
    assert [second_turns[f"c0{i}#2"] for i in (1, 2, 3)] == [True, True, True], second_turns
