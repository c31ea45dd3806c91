"""A simulation's summary for people: a terminal table, and an HTML page with plots (service
level and queue length over time, the distribution of waits, occupancy per agent) and, where
a formula applies, the Erlang prediction beside the simulated figures."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from app.simulation.summary import Figures, Summary
from app.staffing.erlang import Prediction


@dataclass(frozen=True, slots=True)
class Predicted:
    """The formula's view of the same traffic, and why it applies."""

    basis: str  # e.g. "Erlang C: 120 calls/h, AHT 195 s, 8 agents, 20 s"
    prediction: Prediction


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f} %"


def _s(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f} s"


ROWS: tuple[tuple[str, Callable[[Figures], str]], ...] = (
    ("offered", lambda f: str(f.offered)),
    ("answered", lambda f: str(f.answered)),
    ("abandoned", lambda f: str(f.abandoned)),
    ("timed out", lambda f: str(f.timed_out)),
    ("still waiting at the end", lambda f: str(f.unfinished)),
    ("service level", lambda f: _pct(f.service_level)),
    ("service level (of offered)", lambda f: _pct(f.service_level_offered)),
    ("ASA", lambda f: _s(f.asa_s)),
    ("mean wait, all calls", lambda f: _s(f.mean_wait_s)),
    ("abandon rate", lambda f: _pct(f.abandon_rate)),
    ("AHT", lambda f: _s(f.aht_s)),
)


def _predicted_cells(p: Predicted | None) -> dict[str, str]:
    if p is None:
        return {}
    e = p.prediction
    return {"service level (of offered)": _pct(e.service_level), "ASA": _s(e.asa_s),
            "mean wait, all calls": _s(e.average_wait_s), "abandon rate": _pct(e.abandon_rate)}


def terminal(summary: Summary, predicted: Predicted | None = None) -> str:
    """A plain table: overall, each queue, and the prediction where there is one."""
    columns: list[tuple[str, Figures]] = [("all", summary.overall)]
    if len(summary.queues) > 1:
        columns += list(summary.queues.items())
    heads = [name for name, _ in columns] + (["Erlang"] if predicted else [])
    cells = _predicted_cells(predicted)
    rows = [[label] + [render(f) for _, f in columns] + ([cells.get(label, "")]
                                                        if predicted else [])
            for label, render in ROWS]
    rows.append(["occupancy (mean of agents)", _pct(summary.mean_occupancy)]
                + [""] * (len(columns) - 1)
                + ([_pct(predicted.prediction.occupancy)] if predicted else []))
    widths = [max(len(r[i]) for r in [["", *heads], *rows]) for i in range(len(heads) + 1)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w)
                       for i, (h, w) in enumerate(zip(["", *heads], widths, strict=True)))]
    for r in rows:
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    if predicted:
        lines.append(f"Erlang: {predicted.basis}")
    return "\n".join(lines)


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _over_time(summary: Summary) -> str:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    hours = [i.start_s / 3600 for i in summary.intervals]
    width = summary.interval_s / 3600
    top.step(hours, [100 * (i.service_level or 0) if i.service_level is not None else None
                     for i in summary.intervals], where="post")
    top.set_ylabel("service level %")
    top.set_ylim(0, 105)
    bottom.bar(hours, [i.mean_waiting for i in summary.intervals], width=width, align="edge")
    bottom.set_ylabel("calls waiting (mean)")
    bottom.set_xlabel(f"hours from the start ({summary.interval_s // 60}-minute intervals)")
    return _png(fig)


def _waits(summary: Summary) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.hist([summary.answered_waits_s, summary.abandoned_waits_s], bins=40, stacked=True,
            label=["answered", "abandoned"])
    ax.set_xlabel("wait, s")
    ax.set_ylabel("calls")
    ax.legend()
    return _png(fig)


def _occupancy(summary: Summary) -> str:
    agents = sorted(summary.occupancy)
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.18 * len(agents))))
    ax.barh(agents, [100 * (summary.occupancy[a] or 0) for a in agents])
    ax.set_xlabel("occupancy %")
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    return _png(fig)


def _table(summary: Summary, predicted: Predicted | None) -> str:
    columns: list[tuple[str, Figures]] = [("all", summary.overall), *summary.queues.items()]
    cells = _predicted_cells(predicted)
    head = "".join(f"<th>{html.escape(n)}</th>" for n, _ in columns)
    head += "<th>Erlang prediction</th>" if predicted else ""
    body = []
    for label, render in ROWS:
        tds = "".join(f"<td>{render(f)}</td>" for _, f in columns)
        tds += f"<td>{cells.get(label, '')}</td>" if predicted else ""
        body.append(f"<tr><th>{label}</th>{tds}</tr>")
    body.append(f"<tr><th>occupancy (mean of agents)</th><td>{_pct(summary.mean_occupancy)}"
                f"</td>{'<td></td>' * (len(columns) - 1)}"
                + (f"<td>{_pct(predicted.prediction.occupancy)}</td>" if predicted else "")
                + "</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(body)}</table>"


def page(title: str, summary: Summary, predicted: Predicted | None,
         notes: Iterable[str] = ()) -> str:
    basis = (f"<p>Erlang prediction: {html.escape(predicted.basis)}.</p>" if predicted
             else "<p>No Erlang formula applies to this scenario (it needs one queue, "
                  "constant Poisson arrivals and a constant number of agents).</p>")
    extra = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{padding:.25em .8em;border-bottom:1px solid #ddd;
text-align:right}}th:first-child{{text-align:left}}img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Simulated {summary.duration_s / 3600:.2f} hours through the real routing engine on a
manual clock.</p>
<h2>Figures</h2>{_table(summary, predicted)}{basis}<ul>{extra}</ul>
<h2>Service level and calls waiting over time</h2>
<img alt="service level and queue length" src="data:image/png;base64,{_over_time(summary)}">
<h2>Waits</h2>
<img alt="distribution of waits" src="data:image/png;base64,{_waits(summary)}">
<h2>Occupancy per agent</h2>
<img alt="occupancy per agent" src="data:image/png;base64,{_occupancy(summary)}">
</body></html>
"""
