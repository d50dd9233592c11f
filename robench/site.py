"""``robench pages --html OUT``: the leaderboard as a self-contained static site.

From a report directory (``robench report``: ``scores.csv``, ``seed_summary.csv``, ``figures/``)
and the zoo it was measured on, one page per map and one per checkpoint, openable from disk with
no server and no network (styles and the sorting script inline in every page):

  * ``index.html`` — the maps, each with its row count and threat model;
  * ``<map>.html`` — one row per (learner, defense) with its training seeds: Natural (clean) and
    each attack as the mean over seeds (per-seed values in the cell's tooltip), AVG (the mean of
    those columns, Table 1's), the attacked mean and the worst case, with the report's seed
    intervals for Natural, the attacked mean and the worst case where a row has ≥ 2 seeds; every
    column sorts on a click (numbers compare as numbers, a missing value sorts last), a learner
    filter hides the other learner's rows; a changed-% column (the share of greedy actions a random
    observation changes, from each seed's ``robench diagnose --save``); each seed links to its checkpoint's page; the map's
    figures (robustness profile, trade-off, ε sweep) below the table.  A view is a link:
    ``3m.html#sort=FGSM&dir=desc&learner=vdn`` opens the page sorted and filtered so;
  * ``checkpoints/<map>/<entry>.html`` — the manifest's provenance (protocol, regime, budget,
    wall time, content hash, origin of an imported model, zoo entry or experiment), the
    training curve and the curves under attack drawn as inline SVG from ``train_curve.csv``, and
    its co-trained adversaries with the protagonist's win rate under each.

A checkpoint is matched to a row by (map, learner, defense, variant, seed) in the zoo's
``index.json``, the zoo's entry first; an imported model is a row like any other.
"""
from __future__ import annotations

import csv
import html
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attacks import CLEAN
from robench.atomic import atomic_write_text
from robench.checkpoint import read_manifest
from robench.diagnose_file import saved_diagnosis
from robench.errors import RobenchError
from robench.manifest import Manifest
from robench.envs import PAPER_EPS
from robench.tables import ATTACK_LABELS, DEFENSE_LABELS, LEARNER_LABELS, label, ordered, select_table_cells, table_eps

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3;cursor:pointer;user-select:none}th.sorted-asc::after{content:" ▲"}
th.sorted-desc::after{content:" ▼"}td.text,th.text{text-align:left}.small{color:#666;font-size:.85em}
img{max-width:48%;margin:.5em 1%;border:1px solid #ddd}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dt{font-weight:600}code{font-size:.9em}
"""

SCRIPT = """
function cellValue(row, k){const c=row.cells[k];const v=c.dataset.value;
  if(v===undefined){return c.textContent.trim().toLowerCase();}return v===''?null:parseFloat(v);}
function sortBy(th){const table=th.closest('table');const body=table.tBodies[0];
  const k=Array.from(th.parentNode.children).indexOf(th);
  const asc=!th.classList.contains('sorted-asc');
  table.querySelectorAll('th').forEach(h=>h.classList.remove('sorted-asc','sorted-desc'));
  th.classList.add(asc?'sorted-asc':'sorted-desc');
  const rows=Array.from(body.rows);
  rows.sort((a,b)=>{const x=cellValue(a,k),y=cellValue(b,k);
    if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
    const r=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
    return asc?r:-r;});
  rows.forEach(r=>body.appendChild(r));}
function filterLearner(value){document.querySelectorAll('tbody tr').forEach(r=>{
  r.style.display=(value==='all'||r.dataset.learner===value)?'':'none';});}
function applyHash(){const q=new URLSearchParams(location.hash.slice(1));
  const f=document.getElementById('learner');
  if(q.get('learner')&&f){f.value=q.get('learner');filterLearner(f.value);}
  const ths=Array.from(document.querySelectorAll('#leaderboard th'));
  const th=ths.find(h=>h.textContent.trim()===q.get('sort'));
  if(th){sortBy(th);if(q.get('dir')==='desc'){sortBy(th);}}}
document.addEventListener('DOMContentLoaded',()=>{
  document.querySelectorAll('th').forEach(th=>th.addEventListener('click',()=>sortBy(th)));
  const f=document.getElementById('learner');if(f){f.addEventListener('change',()=>filterLearner(f.value));}
  applyHash();});
"""


def _page(title: str, body: str, depth: int = 0) -> str:
    home = "../" * depth + "index.html"
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body>"
            f"<p class=\"small\"><a href=\"{home}\">robench leaderboard</a></p><h1>{html.escape(title)}</h1>"
            f"{body}</body></html>\n")


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(v) else v


def _cell(value: float | None, low: float | None = None, high: float | None = None, title: str = "") -> str:
    """A numeric cell: its value for sorting, the interval where there is one, a tooltip."""
    if value is None:
        return "<td data-value=\"\">–</td>"
    text = f"{value:.2f}" + (f" <span class=\"small\">[{low:.2f}, {high:.2f}]</span>"
                             if low is not None and high is not None else "")
    tip = f" title=\"{html.escape(title)}\"" if title else ""
    return f"<td data-value=\"{value:.6f}\"{tip}>{text}</td>"


def _index_rows(zoo: Path) -> list[dict[str, Any]]:
    path = Path(zoo) / "index.json"
    if not path.is_file():
        raise RobenchError(f"{path} does not exist (run `robench index --zoo {zoo}`)")
    return [r for r in json.loads(path.read_text())["checkpoints"] if r["kind"] == "protagonist"]


def _checkpoint_of(rows: list[dict[str, Any]], env: str, learner: str, defense_label: str, seed: int) -> dict | None:
    """The zoo's checkpoint of a table row's seed: same map, learner, defense, variant and seed;
    the zoo's entry at its defense's default attacked share (the protocol of the report's table)
    before other entries (ATSA's p = 1 rows) and experiments of the same label."""
    from defenses import DEFENSES

    defense, _, variant = defense_label.partition("[")
    variant = variant.rstrip("]")
    default = DEFENSES[defense].REGIME.attack_prob if defense in DEFENSES else None
    found = [r for r in rows if r["map"] == env and r["learner"] == learner and r["defense"] == defense
             and (r.get("variant") or "") == variant and r["seed"] == seed]
    found.sort(key=lambda r: (not r.get("zoo_entry", False),
                              ((r.get("protocol") or {}).get("regime") or {}).get("attack_prob") != default, r["path"]))
    return found[0] if found else None


def _curve_svg(curve: Path) -> str:
    """The training curve (greedy win rate against env steps, clean and under each curve attack)
    as an inline SVG, or a note where the checkpoint has none."""
    if not curve.is_file():
        return "<p class=\"small\">No training curve (an imported model, or a run that predates curves).</p>"
    with curve.open() as fh:
        rows = list(csv.DictReader(fh))
    metric = "eval_win_rate" if rows and rows[0].get("eval_win_rate", "") != "" else "eval_return"
    series = [c for c in (rows[0].keys() if rows else []) if c == metric or c.startswith(metric + "_")]
    points = {c: [(float(r["t_env"]), _num(r[c])) for r in rows if _num(r.get(c)) is not None] for c in series}
    values = [v for pts in points.values() for _, v in pts]
    if not values:
        return "<p class=\"small\">The training curve is empty.</p>"
    width, height, pad = 640, 240, 36
    t_max = max(t for pts in points.values() for t, _ in pts) or 1.0
    lo, hi = (0.0, 1.0) if metric == "eval_win_rate" else (min(values), max(values) or 1.0)
    span = (hi - lo) or 1.0
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    lines, legend = [], []
    for k, (name, pts) in enumerate(points.items()):
        xy = " ".join(f"{pad + t / t_max * (width - 2 * pad):.1f},{height - pad - (v - lo) / span * (height - 2 * pad):.1f}"
                      for t, v in pts)
        colour = colours[k % len(colours)]
        lines.append(f"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{xy}\"/>")
        shown = "clean" if name == metric else f"under {name[len(metric) + 1:]}"
        legend.append(f"<text x=\"{width - pad - 150}\" y=\"{pad + 14 * k}\" fill=\"{colour}\" font-size=\"12\">{shown}</text>")
    axes = (f"<line x1=\"{pad}\" y1=\"{height - pad}\" x2=\"{width - pad}\" y2=\"{height - pad}\" stroke=\"#888\"/>"
            f"<line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{height - pad}\" stroke=\"#888\"/>"
            f"<text x=\"{pad}\" y=\"{height - 8}\" font-size=\"12\">0</text>"
            f"<text x=\"{width - pad - 130}\" y=\"{height - 8}\" font-size=\"12\">{t_max:,.0f} env steps</text>"
            f"<text x=\"2\" y=\"{pad}\" font-size=\"12\">{hi:.2g}</text>"
            f"<text x=\"2\" y=\"{height - pad}\" font-size=\"12\">{lo:.2g}</text>")
    return (f"<svg class=\"curve\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"training curve\">"
            f"{axes}{''.join(lines)}{''.join(legend)}</svg><p class=\"small\">{metric.replace('_', ' ')} of the greedy "
            f"team at every curve point.</p>")


def checkpoint_page(zoo: Path, row: dict[str, Any]) -> str:
    """The page of one protagonist checkpoint: provenance, curves, co-trained adversaries."""
    directory = Path(zoo) / row["path"]
    manifest = Manifest(read_manifest(directory))
    protocol = row.get("protocol") or {}
    facts = [("map", row["map"]), ("learner", LEARNER_LABELS.get(row["learner"], row["learner"])),
             ("defense", label(DEFENSE_LABELS, row["defense"]) + (f" [{row['variant']}]" if row.get("variant") else "")),
             ("seed", row["seed"]), ("zoo entry", "yes" if row.get("zoo_entry") else "no (an experiment or an earlier protocol)"),
             ("observation layout", protocol.get("obs_layout", "–")), ("bounds", protocol.get("bounds", "–")),
             ("regime", ", ".join(f"{k}={v}" for k, v in (protocol.get("regime") or {}).items()) or "–"),
             ("budget", f"{protocol.get('steps', row.get('steps', 0)):,} env steps"),
             ("training ε", row.get("eps")), ("wall time", f"{(row.get('wall_time_s') or 0) / 60:.1f} min"),
             ("clean win rate (manifest)", row.get("clean_win_rate")), ("content hash", f"<code>{row['content_hash']}</code>"),
             ("robench version", manifest.robench_version or "–"), ("created", manifest.created or "–")]
    if manifest.origin:
        facts.append(("origin", html.escape(json.dumps(manifest.origin, sort_keys=True))))
    if manifest.init_from_hash:
        facts.append(("started from", f"<code>{manifest.init_from_hash}</code>"))
    body = "<dl>" + "".join(f"<dt>{html.escape(str(k))}</dt><dd>{v if isinstance(v, str) and v.startswith('<') else html.escape(str(v))}</dd>"
                            for k, v in facts) + "</dl>"
    body += "<h2>Training curve</h2>" + _curve_svg(directory / "train_curve.csv")
    adversaries = manifest.co_trained_adversaries
    body += "<h2>Co-trained adversaries</h2>"
    if not adversaries:
        body += "<p class=\"small\">None (this defense trains no adversary of its own).</p>"
    else:
        items = []
        for name, digest in adversaries.items():
            adversary = Manifest(read_manifest(directory / name))
            items.append(f"<tr><td class=\"text\">{html.escape(name)}</td><td class=\"text\">{html.escape(str(adversary.attack))}</td>"
                         f"{_cell(_num(adversary.final_victim_win_rate))}<td class=\"text\"><code>{digest[:16]}…</code></td></tr>")
        body += ("<table><thead><tr><th class=\"text\">entry</th><th class=\"text\">attack</th><th>win rate under it</th>"
                 "<th class=\"text\">hash</th></tr></thead><tbody>" + "".join(items) + "</tbody></table>")
    return _page(f"{row['map']} · {row['path'].split('/')[-1]}", body, depth=2)


def map_page(env: str, scores: pd.DataFrame, summary: pd.DataFrame, figures: list[str],
             links: dict[tuple[str, str, int], str], changed: dict[tuple[str, str, int], float]) -> str:
    """The leaderboard page of one map."""
    s, summ = scores[scores.env == env], summary[summary.env == env]
    bounds = ", ".join(sorted(s.bounds.astype(str).unique()))
    eps = ", ".join(f"{e:g}" for e in sorted(s[s.attack != CLEAN].eps.unique()))
    attacks = ordered(s.attack, list(ATTACK_LABELS))
    learners = ordered(s.learner, list(LEARNER_LABELS))
    head = (["<th class=\"text\">Learner</th>", "<th class=\"text\">Defense</th>", "<th>Seeds</th>"]
            + [f"<th>{html.escape(label(ATTACK_LABELS, a))}</th>" for a in attacks]
            + ["<th>AVG</th>", "<th>Attacked mean</th>", "<th>Worst case</th>", "<th>Changed %</th>",
               "<th class=\"text\">Checkpoints</th>"])
    body_rows = []
    for learner in learners:
        for defense in ordered(s[s.learner == learner].defense, list(DEFENSE_LABELS)):
            mine = s[(s.learner == learner) & (s.defense == defense)]
            stat = summ[(summ.learner == learner) & (summ.defense == defense)]
            st = stat.iloc[0] if len(stat) else pd.Series(dtype=float)
            seeds = sorted(int(x) for x in mine.seed.unique())
            cells = [f"<td class=\"text\">{html.escape(LEARNER_LABELS.get(learner, learner))}</td>",
                     f"<td class=\"text\">{html.escape(label(DEFENSE_LABELS, defense))}</td>",
                     f"<td data-value=\"{len(seeds)}\">{len(seeds)}</td>"]
            columns = []
            for a in attacks:
                per_seed = mine[mine.attack == a].groupby("seed").value.mean()
                columns.append(per_seed.mean() if len(per_seed) else np.nan)
                tip = ", ".join(f"seed {k}: {v:.3f}" for k, v in per_seed.items())
                if a == CLEAN and len(seeds) > 1:
                    cells.append(_cell(_num(st.get("clean")), _num(st.get("clean_low")), _num(st.get("clean_high")), tip))
                else:
                    cells.append(_cell(_num(per_seed.mean()) if len(per_seed) else None, title=tip))
            complete = columns and not any(np.isnan(columns))  # Table 1's AVG needs every column
            cells.append(_cell(float(np.mean(columns)) if complete else None, title="mean of the row's columns (Table 1's AVG)"))
            for name in ("mean", "worst_case"):
                cells.append(_cell(_num(st.get(name)), _num(st.get(f"{name}_low")), _num(st.get(f"{name}_high"))))
            shares = [changed[(learner, defense, k)] for k in seeds if (learner, defense, k) in changed]
            cells.append(_cell(100 * float(np.mean(shares)) if len(shares) == len(seeds) else None,
                               title=", ".join(f"{100 * v:.1f} %" for v in shares)))
            anchors = [f"<a href=\"{links[(learner, defense, k)]}\">s{k}</a>" for k in seeds if (learner, defense, k) in links]
            cells.append(f"<td class=\"text\">{' '.join(anchors) or '–'}</td>")
            body_rows.append(f"<tr data-learner=\"{html.escape(learner)}\">{''.join(cells)}</tr>")
    options = "".join(f"<option value=\"{html.escape(lr)}\">{html.escape(LEARNER_LABELS.get(lr, lr))}</option>"
                      for lr in learners)
    body = (f"<p>Win rate of greedy teams; threat model: L∞, ε = {eps or '–'}, bounds <code>{html.escape(bounds)}</code> "
            f"(docs/threat-model.md). Each value is the mean over a row's training seeds (hover for each seed); "
            f"intervals are the report's over seeds. Changed %: the share of greedy actions a random observation "
            f"changes (<code>robench diagnose --save</code>; empty where a seed has none). Click a column to sort.</p>"
            f"<p><label>Learner <select id=\"learner\"><option value=\"all\">all</option>{options}</select></label></p>"
            f"<table id=\"leaderboard\"><thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body_rows)}</tbody></table>")
    if figures:
        body += "<h2>Figures</h2>" + "".join(f"<img src=\"{f}\" alt=\"{html.escape(Path(f).stem)}\">" for f in figures)
    return _page(f"Leaderboard: {env}", body)


def write_site(report: Path, zoo: Path, out: Path) -> list[Path]:
    """The whole site of ``report`` (measured on ``zoo``) under ``out``; returns the pages written."""
    report, zoo, out = Path(report), Path(zoo), Path(out)
    for need in ("scores.csv", "seed_summary.csv"):
        if not (report / need).is_file():
            raise RobenchError(f"{report} is not a report with seed statistics ({need} is missing: run robench report)")
    scores, summary = pd.read_csv(report / "scores.csv"), pd.read_csv(report / "seed_summary.csv")
    scores, summary = scores[scores.metric == "win_rate"], summary[summary.metric == "win_rate"]
    if not scores.empty:  # the leaderboard is Table 1: each map at its table ε (an ε sweep stays in the report)
        scores = select_table_cells(scores, table_eps(scores, PAPER_EPS))
    if scores.empty:
        raise RobenchError(f"{report} holds no win-rate scores")
    rows = _index_rows(zoo)
    out.mkdir(parents=True, exist_ok=True)
    written, maps = [], []
    for env in sorted(scores.env.unique()):
        links: dict[tuple[str, str, int], str] = {}
        changed: dict[tuple[str, str, int], float] = {}
        for (learner, defense, seed), _ in scores[scores.env == env].groupby(["learner", "defense", "seed"]):
            row = _checkpoint_of(rows, env, learner, defense, int(seed))
            if row is None or not (zoo / row["path"] / "manifest.json").is_file():
                continue
            diagnosis = saved_diagnosis(zoo / row["path"], row["content_hash"])
            if diagnosis is not None:
                changed[(learner, defense, int(seed))] = diagnosis["changed_share"]
            page = out / "checkpoints" / f"{row['path']}.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(page, checkpoint_page(zoo, row))
            links[(learner, defense, int(seed))] = page.relative_to(out).as_posix()
            written.append(page)
        figures = []
        learners = sorted(scores[scores.env == env].learner.unique())
        for png in sorted(p for p in (report / "figures").glob("*.png") if any(p.stem.endswith(f"_{env}_{lr}") for lr in learners)):
            (out / "figures").mkdir(exist_ok=True)
            shutil.copyfile(png, out / "figures" / png.name)
            figures.append(f"figures/{png.name}")
        page = out / f"{env}.html"
        atomic_write_text(page, map_page(env, scores, summary, figures, links, changed))
        written.append(page)
        n = len(scores[scores.env == env].groupby(["learner", "defense"]))
        maps.append(f"<li><a href=\"{env}.html\">{html.escape(env)}</a> — {n} rows</li>")
    index = out / "index.html"
    atomic_write_text(index, _page("robench leaderboard", f"<p>From <code>{html.escape(str(report))}</code>.</p>"
                                                          f"<ul>{''.join(maps)}</ul>"))
    return [index, *written]
