"""Reports of an evaluation run: ``report.md`` and one self-contained ``report.html``.

The HTML file has no external assets: styles are inline and the plots (hit@k
curve, metrics per question type, latency distribution, and risk against
coverage when the results carry confidences) are SVG drawn here.
Every piece of text from questions, answers or documents is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.eval.metrics import KS, Result, delta, is_miss, miss_kind, operating_point, risk_coverage
from qa.eval.records import Comparison, Summary

HEADLINE = (
    "hit@1",
    "hit@5",
    "mrr@10",
    "answer_hit",
    "evidence_cited",
    "citation_support",
    "short_f1",
    "abstain_rate",
    "false_abstain_rate",
    "auroc",
    "abstain@fa10",
    "latency_ms_p50",
    "latency_ms_p95",
)
PER_TYPE = ("hit@5", "answer_hit", "evidence_cited", "abstain_rate")  # the bars of the per-type plot
TYPE_TABLE = ("questions", *PER_TYPE, "hit@1", "false_abstain_rate", "auroc", "abstain@fa10")
_CURVE_POINTS = 200  # the risk–coverage line is thinned to about this many points
_COLOURS = ("#3b6ea5", "#d9822b", "#4f9d69", "#b04a5a")


def write_reports(summary: Summary, results: Sequence[Result], out_dir: Path) -> None:
    (out_dir / "report.md").write_text(markdown(summary, results), encoding="utf-8")
    (out_dir / "report.html").write_text(html_report(summary, results), encoding="utf-8")


def fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def _title(summary: Summary) -> str:
    s = summary.settings
    return f"Evaluation of {Path(s.questions).name}: {s.mode}, k={s.k}"


def _settings_line(summary: Summary) -> str:
    s = summary.settings
    done = f"{summary.overall.questions} of {summary.questions_total} questions"
    return (
        f"{done}{'' if summary.complete else ' (incomplete run)'}; corpus {s.corpus}; index {s.index} "
        f"(fingerprint {s.index_fingerprint}); model {s.model}; ranking depth {s.depth}"
    )


def _citations(r: Result) -> str:
    return "; ".join(f"[{c.n}] {c.doc} {c.start}–{c.end}" for c in r.citations) or "none"


def summary_text(summary: Summary) -> str:
    """The headline figures of a run, as a few lines of plain text."""
    m = summary.overall.to_dict()
    groups = (
        ("retrieval", ("hit@1", "hit@3", "hit@5", "hit@10", "all@5", "mrr@10")),
        ("answers", ("answer_hit", "answer_recall", "short_em", "short_f1", "evidence_cited", "citation_support")),
        ("abstaining", ("abstain_rate", "false_abstain_rate", "auroc", "abstain@fa10")),
        ("latency", ("latency_ms_p50", "latency_ms_p95")),
    )
    lines = [
        f"{summary.out_dir}: {m['questions']} of {summary.questions_total} questions "
        f"({m['answerable']} answerable, {m['unanswerable']} unanswerable) in {summary.seconds:.1f}s"
    ]
    for label, names in groups:
        lines.append(f"  {label:<11}" + "  ".join(f"{n} {fmt(m[n])}" for n in names))
    if summary.evidence_not_found:
        lines.append(
            f"  evidence not found in the corpus for {len(summary.evidence_not_found)} questions "
            "(not scored for retrieval or citations)"
        )
    lines.append(f"report: {summary.out_dir / 'report.html'}")
    return "\n".join(lines)


# -- markdown --------------------------------------------------------------------------------


def _cell(value: object) -> str:
    return " ".join(fmt(value).split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def markdown(summary: Summary, results: Sequence[Result]) -> str:
    overall = summary.overall.to_dict()
    lines = [f"# {_title(summary)}", "", _settings_line(summary), "", "## Headline", ""]
    lines += _table(["metric", "value"], [(name, overall[name]) for name in overall])
    lines += ["", "## Per question type", ""]
    lines += _table(
        ["type", *TYPE_TABLE], [(t, *(m.to_dict()[n] for n in TYPE_TABLE)) for t, m in summary.by_type.items()]
    )
    lines += _problems_md(summary)
    misses = [r for r in results if is_miss(r)]
    lines += ["", f"## Misses ({len(misses)})", ""]
    lines += _table(
        ["id", "type", "question", "gold answers", "answer given", "citations", "evidence"],
        [
            (r.id, r.type, r.question, " / ".join(r.answers) or "(unanswerable)", r.answer, _citations(r), miss_kind(r))
            for r in misses
        ],
    )
    return "\n".join(lines) + "\n"


def _problems_md(summary: Summary) -> list[str]:
    lines = []
    if summary.evidence_not_found:
        lines += [
            "",
            f"## Evidence not found in the corpus ({len(summary.evidence_not_found)})",
            "",
            "Not scored for retrieval or citations:",
            "",
        ]
        lines += [f"- {qid}: {problem}" for qid, problem in summary.evidence_not_found]
    return lines


def compare_markdown(comparison: Comparison) -> str:
    lines = [f"# {comparison.run_a} → {comparison.run_b}", ""]
    for scope, values in comparison.metrics.items():
        lines += [f"## {scope}", ""]
        lines += _table(["metric", "A", "B", "Δ"], [(n, a, b, _signed(delta(a, b))) for n, (a, b) in values.items()])
        lines.append("")
    lines += [f"## Questions whose outcome changed ({len(comparison.changed)})", ""]
    lines += _table(
        ["id", "question", "A", "B", "evidence rank A", "evidence rank B"],
        [(c.id, c.question, c.before, c.after, c.rank_before, c.rank_after) for c in comparison.changed],
    )
    for label, ids in (("only in A", comparison.only_a), ("only in B", comparison.only_b)):
        if ids:
            lines += ["", f"Questions {label}: {', '.join(ids)}"]
    return "\n".join(lines) + "\n"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.4g}"


# -- HTML ------------------------------------------------------------------------------------

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
.cards{display:flex;flex-wrap:wrap;gap:.6em}.card{border:1px solid #ddd;border-radius:6px;padding:.5em .8em}
.card b{display:block;font-size:1.4em}.card span{color:#666;font-size:.85em}
table{border-collapse:collapse;width:100%;font-size:.9em}td,th{border:1px solid #ddd;padding:.3em .5em;
vertical-align:top;text-align:left}th{background:#f4f4f4}.plots{display:flex;flex-wrap:wrap;gap:1.5em}
.muted{color:#666}svg text{font:12px system-ui,sans-serif}
"""


def _e(value: object) -> str:
    return html.escape(fmt(value))


def _html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_report(summary: Summary, results: Sequence[Result]) -> str:
    overall = summary.overall.to_dict()
    cards = "".join(f'<div class="card"><b>{_e(overall[n])}</b><span>{_e(n)}</span></div>' for n in HEADLINE)
    per_type = _html_table(
        ["type", *TYPE_TABLE], [(t, *(m.to_dict()[n] for n in TYPE_TABLE)) for t, m in summary.by_type.items()]
    )
    misses = [r for r in results if is_miss(r)]
    miss_table = _html_table(
        ["id", "type", "question", "gold answers", "answer given", "citations", "evidence"],
        [
            (r.id, r.type, r.question, " / ".join(r.answers) or "(unanswerable)", r.answer, _citations(r), miss_kind(r))
            for r in misses
        ],
    )
    problems = ""
    if summary.evidence_not_found:
        items = "".join(f"<li>{_e(qid)}: {_e(p)}</li>" for qid, p in summary.evidence_not_found)
        problems += (
            f"<h2>Evidence not found in the corpus ({len(summary.evidence_not_found)})</h2>"
            f"<p>Not scored for retrieval or citations.</p><ul>{items}</ul>"
        )
    plots = "".join(
        (
            hit_curve(summary),
            per_type_bars(summary),
            latency_histogram([r.latency_ms for r in results]),
            risk_coverage_plot(results, run_threshold(summary)),
        )
    )
    all_metrics = _html_table(["metric", "value"], list(overall.items()))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(_title(summary))}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{_e(_title(summary))}</h1>"
        f'<p class="muted">{_e(_settings_line(summary))}</p><div class="cards">{cards}</div>'
        f'<h2>Plots</h2><div class="plots">{plots}</div><h2>Per question type</h2>{per_type}{problems}'
        f"<h2>Misses ({len(misses)})</h2>{miss_table}<h2>All metrics</h2>{all_metrics}</body></html>\n"
    )


# -- SVG plots -------------------------------------------------------------------------------


def _svg(width: int, height: int, title: str, body: str, note: str = "") -> str:
    """A figure: the plot, its caption, and an optional note in small print under it."""
    small = f'<br><small class="muted">{html.escape(note)}</small>' if note else ""
    narrow = f' style="max-width:{width}px"' if note else ""  # the note wraps to the plot's width
    return (
        f'<figure{narrow}><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">{body}</svg>'
        f"<figcaption>{html.escape(title)}{small}</figcaption></figure>"
    )


def _text(x: float, y: float, text: object, anchor: str = "middle", fill: str = "#333") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}">{_e(text)}</text>'


def _axes(left: int, top: int, width: int, height: int) -> str:
    """A 0–1 y axis with grid lines."""
    out = []
    for i in range(6):
        y = top + height - height * i / 5
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(_text(left - 6, y + 4, f"{i / 5:.1f}", "end"))
    return "".join(out)


def hit_curve(summary: Summary) -> str:
    """hit@k and all@k against k."""
    m = summary.overall.to_dict()
    left, top, w, h = 45, 15, 300, 180
    x = {k: left + w * i / (len(KS) - 1) for i, k in enumerate(KS)}
    body = [_axes(left, top, w, h)] + [_text(x[k], top + h + 18, f"k={k}") for k in KS]
    for j, name in enumerate(("hit", "all")):
        colour = _COLOURS[j]
        points = [(x[k], top + h - h * m[f"{name}@{k}"]) for k in KS if m[f"{name}@{k}"] is not None]
        if points:
            body.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                + " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
                + '"/>'
            )
            body += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points]
        body.append(_text(left + w + 8, top + 14 + 16 * j, f"{name}@k", "start", colour))
    return _svg(
        left + w + 60,
        top + h + 30,
        "Retrieval: share of answerable questions with evidence in the top k",
        "".join(body),
    )


def per_type_bars(summary: Summary) -> str:
    """Grouped bars: a few metrics for each question type."""
    types = list(summary.by_type.items())
    left, top, h, group = 45, 15, 180, 24 + 14 * len(PER_TYPE)
    w = max(group * len(types), 200)
    body = [_axes(left, top, w, h)]
    for i, (name, metrics) in enumerate(types):
        values = metrics.to_dict()
        x0 = left + i * group + 10
        for j, metric in enumerate(PER_TYPE):
            v = values[metric]
            if v is not None:
                body.append(
                    f'<rect x="{x0 + 14 * j}" y="{top + h - h * v:.1f}" width="12" height="{h * v:.1f}" '
                    f'fill="{_COLOURS[j]}"><title>{_e(name)} {_e(metric)}: {_e(v)}</title></rect>'
                )
        label = name if len(name) <= 12 else name[:11] + "…"
        body.append(_text(x0 + 7 * len(PER_TYPE), top + h + 16, label))
    legend_x = left + w + 10
    body += [_text(legend_x, top + 14 + 16 * j, metric, "start", _COLOURS[j]) for j, metric in enumerate(PER_TYPE)]
    return _svg(legend_x + 110, top + h + 30, "Metrics per question type", "".join(body))


def latency_histogram(latencies: Sequence[float], bins: int = 20) -> str:
    """Distribution of answer latency, with p50 and p95 marked."""
    left, top, w, h = 45, 15, 320, 180
    if not latencies:
        return _svg(w, 40, "Latency (no questions)", _text(w / 2, 24, "no data"))
    ordered = sorted(latencies)
    lo, hi = ordered[0], ordered[-1]
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for v in ordered:
        counts[min(int((v - lo) / span * bins), bins - 1)] += 1
    peak = max(counts)
    body = []
    for i, c in enumerate(counts):
        bh = h * c / peak
        body.append(
            f'<rect x="{left + i * w / bins:.1f}" y="{top + h - bh:.1f}" width="{w / bins - 1:.1f}" '
            f'height="{bh:.1f}" fill="{_COLOURS[0]}"><title>{c} questions</title></rect>'
        )
    for label, q in (("p50", 0.5), ("p95", 0.95)):
        v = float(np.percentile(ordered, 100 * q))
        px = left + w * (v - lo) / span
        body.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + h}" stroke="{_COLOURS[1]}"/>')
        body.append(_text(px, top - 3, f"{label} {v:.0f} ms", fill=_COLOURS[1]))
    body += [
        _text(left, top + h + 16, f"{lo:.0f} ms"),
        _text(left + w, top + h + 16, f"{hi:.0f} ms"),
        _text(left - 6, top + 10, peak, "end"),
    ]
    return _svg(left + w + 40, top + h + 30, "Latency per question (ms)", "".join(body))


def run_threshold(summary: Summary) -> float | None:
    """The confidence below which the run's assistant declined, when its settings say."""
    value = summary.answering.get("threshold")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def risk_coverage_plot(results: Sequence[Result], threshold: float | None = None) -> str:
    """Error rate among the answered questions against the share answered, as the confidence
    threshold rises (``risk_coverage``), with the run's own threshold marked; empty when no
    result has a confidence."""
    curve = risk_coverage(results)
    if not curve:
        return ""
    left, top, w, h = 45, 15, 300, 180
    step = max(1, len(curve) // _CURVE_POINTS)
    kept = curve[::step] if curve[::step][-1] == curve[-1] else [*curve[::step], curve[-1]]
    points = [(left + w * coverage, top + h - h * risk) for _, coverage, risk in kept]
    body = [_axes(left, top, w, h)]
    body += [_text(left + w * i / 5, top + h + 16, f"{i / 5:.1f}") for i in range(6)]
    body.append(_text(left + w / 2, top + h + 32, "coverage (share answered)"))
    body.append(_text(left + 6, top + 12, "error rate among the answered", "start"))
    body.append(
        f'<polyline fill="none" stroke="{_COLOURS[0]}" stroke-width="2" points="'
        + " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        + '"/>'
    )
    if len(points) == 1:
        body.append(f'<circle cx="{points[0][0]:.1f}" cy="{points[0][1]:.1f}" r="3" fill="{_COLOURS[0]}"/>')
    point = None if threshold is None else operating_point(results, threshold)
    if point is not None:
        coverage, risk = point
        px, py = left + w * coverage, top + h - h * risk
        body.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{_COLOURS[1]}"><title>threshold {threshold:.3f}: '
            f"coverage {coverage:.3f}, error rate {risk:.3f}</title></circle>"
        )
        body.append(_text(px, py - 8, f"threshold {threshold:.2f}", fill=_COLOURS[1]))
    return _svg(
        left + w + 30,
        top + h + 40,
        "Risk–coverage: error rate among the answered, as the confidence threshold rises",
        "".join(body),
        "An answer is an error when the question is unanswerable or the answer holds no gold answer. "
        "Questions the run declined have no answer to score: where a lower threshold would answer them "
        "(right of the marked point) they count as errors.",
    )
