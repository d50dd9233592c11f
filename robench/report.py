"""``robench report``: read the results store (or an external CSV) and write every artefact."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from attacks import CLEAN
from robench.atomic import atomic_write_text
from robench.checkpoint import CheckpointError, read_manifest
from robench.diagnose_file import changed_shares
from robench.envs import PAPER_EPS, declares
from robench.errors import RobenchError
from robench.grid import MASK_ONLY
from robench.manifest import Manifest
from robench.rows import current_protocol, protocol_of
from robench.threat import DEFAULT_BOUNDS
from robench.figures import ablation_bars, attack_strength, eps_sweep, training_curves
from robench.tables import (
    TableOptions,
    aggregate,
    render_table1,
    render_table2,
    robustness_summary,
    select_table_cells,
    significance,
    table_eps,
    variant_rows,
)
from robench.store import load_cells, load_episodes
from robench.worst_case import render_worst_case, stronger, worst_case_table


class ReportError(RobenchError):
    """No results, or a malformed external table."""


def _write(out: Path, name: str, text: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out / name, text)


def _from_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as err:
        raise ReportError(f"cannot read {path}: {err}") from None
    need = {"env", "learner", "defense", "attack"}
    if not need <= set(df.columns) or not ({"win_rate"} <= set(df.columns)
                                           or {"reward", "crash_rate"} <= set(df.columns)):
        raise ReportError(f"{path} needs columns env, learner, defense, attack and win_rate or reward+crash_rate")
    df = df.rename(columns={"reward": "mean_return", "reward_std": "std_return"})
    df["eps"] = df.get("eps", 0.0)
    df["seed"] = df.get("seed", 0)
    return df


def adversary_table(cells: pd.DataFrame) -> str:
    """Markdown: which adversary checkpoint served each learned-attack column (env, learner,
    attack), how it was trained (co-trained by which defense, or against a fixed victim) and
    how many cells it served — the paper's protocol uses the co-trained ones."""

    learned = cells[cells.get("adversary").notna()] if "adversary" in cells.columns else cells.iloc[:0]
    lines = ["| env | learner | attack | adversary | trained | ε (training) | cells |", "|---|---|---|---|---|---|---|"]
    for (env, learner, attack, path), g in learned.groupby(["env", "learner", "attack", "adversary"]):
        try:
            m = Manifest(read_manifest(Path(path)))
            how = f"co-trained by {m.co_trained_by}" if m.co_trained_by else f"vs fixed victim {str(m.victim or '')[:8]}"
            eps = f"{m.eps if m.eps is not None else float('nan'):g}"
        except CheckpointError:
            how, eps = "checkpoint not found", "?"
        lines.append(f"| {env} | {learner} | {attack} | `{path}` | {how} | {eps} | {len(g)} |")
    return "\n".join(lines) + "\n"


def current_cells(raw: pd.DataFrame) -> pd.DataFrame:
    """The cells of checkpoints still in their zoo: a cell whose recorded checkpoint path holds a
    manifest with another content hash evaluated a run since replaced (e.g. retrained after its
    defaults changed) and is left out, so a row never mixes two trainings; likewise a cell whose
    adversary path holds another hash (a co-trained adversary replaced with the run that trained
    it), so a learned column never mixes two adversaries.  Cells whose path is gone are kept (a
    results store may outlive or travel without its zoo), as are those that record no hash (an
    adversary the grid retrained against the row: its victim's hash identifies it)."""
    keep = pd.Series(True, index=raw.index)
    for path_column, hash_column in (("checkpoint", "checkpoint_hash"), ("adversary", "adversary_hash")):
        if hash_column not in raw.columns or path_column not in raw.columns:
            continue
        live: dict[str, str | None] = {}
        for path in raw[path_column].dropna().unique():
            try:
                live[path] = Manifest(read_manifest(Path(path))).content_hash
            except CheckpointError:
                live[path] = None
        now = raw[path_column].map(live)
        keep &= now.isna() | raw[hash_column].isna() | (now == raw[hash_column])
    return raw[keep]


def one_threat_model(raw: pd.DataFrame, bounds: str | None, results: Path) -> tuple[pd.DataFrame, str]:
    """The cells of one threat model: attacked cells of ``bounds`` (which must be given when the
    store holds several) and the clean cells, which every threat model shares."""
    attacked = raw[raw.attack != CLEAN]
    modes = sorted(attacked.bounds.unique()) if "bounds" in raw.columns else []
    if bounds is None:
        if len(modes) > 1:
            raise ReportError(f"{results} holds cells of {len(modes)} threat models (bounds {', '.join(modes)}); "
                              f"a table never mixes two: pass --bounds")
        bounds = modes[0] if modes else DEFAULT_BOUNDS
    keep = (raw.attack == CLEAN) | (raw.bounds == bounds)
    if not (keep & (raw.attack != CLEAN)).any() and len(modes):
        raise ReportError(f"{results} has no cells with bounds {bounds} (it has {', '.join(modes)})")
    return raw[keep], bounds


def with_protocol(raw: pd.DataFrame) -> pd.DataFrame:
    """``protocol`` of each cell's protagonist (``robench.rows.protocol_of``), read from its
    manifest where the cell predates the record."""
    if "protocol" not in raw.columns:
        raw = raw.assign(protocol=None)
    missing = raw.protocol.isna()
    labels: dict[str, str] = {}
    for path in raw.checkpoint[missing].dropna().unique():
        try:
            labels[path] = protocol_of(Manifest(read_manifest(Path(path))))
        except CheckpointError:
            labels[path] = "unknown"
    return raw.assign(protocol=raw.protocol.where(~missing, raw.checkpoint.map(labels)).fillna("unknown"))


def split_protocols(raw: pd.DataFrame, every_row: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells of protagonists trained under today's protocol for their defense, the rest).  Among
    the rest, a row whose (env, learner, defense, variant) holds several protocols gets its
    protocol added to the variant, so two trainings never average into one row; with
    ``every_row``, every row of the rest gets it, so each label says how that row was trained
    (the other-protocols table beside today's)."""
    scripted = raw.protocol == "scripted"
    today = [current_protocol(d, b) for d, b in zip(raw.defense, raw.backend)]
    current = (raw.protocol == pd.Series(today, index=raw.index)) | scripted
    others = raw[~current]
    v = others.variant.fillna("").astype(str)
    labelled = np.where(v != "", v + ",", "") + others.protocol.astype(str)
    if not every_row:
        clash = others.groupby([others.env, others.learner, others.defense, v]).protocol.transform("nunique") > 1
        labelled = np.where(clash, labelled, v)
    others = others.assign(variant=labelled)
    return raw[current], pd.concat([others, raw[scripted]], ignore_index=True)


def with_metric(cells: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows whose backend declares ``metric`` (``robench.envs.Backend.metrics``); all rows of a
    table without a backend column (an external CSV) when the metric is the win rate."""
    if "backend" not in cells.columns:
        return cells if metric == "win_rate" else cells.iloc[:0]
    return cells[cells.backend.map(lambda b: declares(b, metric)).astype(bool)]


def broadcast_reference(selected: pd.DataFrame) -> pd.DataFrame:
    """The mask-only scripted row's clean cell copied into every attack column of its (env,
    learner) block: the policy ignores observations, so no observation attack changes it."""
    ref = selected.defense == MASK_ONLY
    if not ref.any():
        return selected
    copies = []
    for (env, learner), block in selected[~ref].groupby(["env", "learner"]):
        mine = selected[ref & (selected.env == env) & (selected.learner == learner)]
        for attack in block.attack.unique():
            if attack != CLEAN:
                copies.append(mine.assign(attack=attack))
    return pd.concat([selected] + copies, ignore_index=True)


def seed_statistics(cells: pd.DataFrame, out: Path, bounds: str, reference: str | None, eps_by_env: dict[str, float],
                    formats: tuple[str, ...] = (), results: Path | None = None,
                    checkpoints: Path | None = None) -> list[Path]:
    """The score matrix of each headline metric (``scores.csv``, tidy, every ε measured), its
    seed-level summary (``seed_summary.csv``: intervals over training seeds, IQM, worst case,
    probability of improvement), robustness-profile and trade-off figures, and the requested
    exports.  The summary and the figures read each map's table ε only (``eps_by_env``), so a row
    with an ε sweep is summarised over the same columns as one without."""
    from robench.figures import robustness_profiles, tradeoff
    from robench.scores import score_matrix, seed_summary

    written, tidy, summaries = [], [], []
    cells = cells.assign(bounds=bounds)
    for metric in ("win_rate", "mean_return"):
        rows = with_metric(cells, "win_rate")
        rows = rows if metric == "win_rate" else cells.drop(rows.index)
        if rows.empty:
            continue
        tidy.append(score_matrix(rows, metric).tidy.assign(metric=metric, bounds=bounds))
        matrix = score_matrix(select_table_cells(rows, eps_by_env), metric)
        summaries.append(seed_summary(matrix, reference).assign(metric=metric, bounds=bounds))
        written += robustness_profiles(matrix, out / "figures") + tradeoff(matrix, out / "figures")
    if tidy:
        written.append(_write(out, "scores.csv", pd.concat(tidy).to_csv(index=False)))
        written.append(_write(out, "seed_summary.csv", pd.concat(summaries).to_csv(index=False)))
    if "marl-eval" in formats:
        from robench.marl_eval import marl_eval_json

        written.append(_write(out, "marl_eval.json", marl_eval_json(cells, results, checkpoints)))
    return written


def write_report(results: Path, out: Path, checkpoints: Path | None = None, reference: str | None = "atsa",
                 unit: str = "attack", from_csv: Path | None = None, bounds: str | None = None,
                 formats: tuple[str, ...] = ()) -> list[Path]:
    """Write tables (LaTeX + Markdown), significance and robustness CSVs and figures; return paths.

    Every table holds one threat model (``bounds``; required when the store holds several) and
    the rows trained under today's protocol; rows of other protocols (older budgets, bounds or
    regimes) go to ``table1_other_protocols``, each labelled with its protocol."""
    opts = TableOptions(reference=reference, unit=unit)
    others = None
    if from_csv is not None:
        cells, episodes = _from_csv(from_csv), None
        if unit != "attack":
            raise ReportError("an external table has per-attack values only: use --unit attack")
        eps_by_env = {e: 0.0 for e in cells.env.unique()}
        selected = cells
    else:
        if not (Path(results) / "cells").is_dir():
            raise ReportError(f"no results store at {results}")
        raw = current_cells(load_cells(results))
        if raw.empty:
            raise ReportError(f"no finished cells in {results}")
        raw, bounds = one_threat_model(raw, bounds, results)
        opts.note = f"Threat model: L∞, bounds={bounds} (docs/threat-model.md)."
        tagged = with_protocol(raw)
        raw, others = split_protocols(tagged, every_row=True)
        if (raw[~stronger(raw)].defense != MASK_ONLY).sum() == 0:  # no row of today's: one table, labels only where rows clash
            raw, others = pd.concat(split_protocols(tagged), ignore_index=True), None
            opts.note += " Rows trained under earlier protocols, each labelled with its own."
        strong = stronger(raw)  # the worst-case table's cells, never Table 1's
        raw, strongest = raw[~strong], variant_rows(raw[strong])
        others = None if others is None else others[~stronger(others)]
        cells = variant_rows(raw)
        episodes = None
        if unit == "episode":
            episodes = load_episodes(results)
            episodes = variant_rows(episodes[episodes.cell_id.isin(raw.cell_id)])
        eps_by_env = table_eps(cells, PAPER_EPS)
        selected = broadcast_reference(select_table_cells(cells, eps_by_env))
        cells = cells[cells.defense != MASK_ONLY]
    written = []
    won = with_metric(selected, "win_rate")
    if "win_rate" in won.columns and not won.empty and won.win_rate.notna().any():
        data = aggregate(won, "win_rate", unit, episodes)
        sig = significance(data, opts)
        changed = changed_shares(won) if from_csv is None else None
        tex, md = render_table1(data, sig, opts, eps_by_env, changed=changed)
        written += [_write(out, "table1_win_rate.tex", tex), _write(out, "table1_win_rate.md", md),
                    _write(out, "significance.csv", sig.to_csv(index=False))]
    if others is not None and (others.defense != MASK_ONLY).any():
        legacy = broadcast_reference(select_table_cells(variant_rows(others), table_eps(variant_rows(others), PAPER_EPS)))
        legacy = with_metric(legacy, "win_rate")
        if not legacy.empty and legacy.win_rate.notna().any():
            data = aggregate(legacy, "win_rate", "attack")
            note = opts.note + " Rows trained under other protocols than today's (labelled with theirs)."
            tex, md = render_table1(data, significance(data, opts), replace(opts, note=note),
                                    table_eps(variant_rows(others), PAPER_EPS))
            written += [_write(out, "table1_other_protocols.tex", tex), _write(out, "table1_other_protocols.md", md)]
    if "crash_rate" in selected.columns and (from_csv is not None and "mean_return" in selected.columns
                                             or not with_metric(selected, "crash_rate").empty):
        tex, md = render_table2(selected, opts.note)
        written += [_write(out, "table2_reward_cr.tex", tex), _write(out, "table2_reward_cr.md", md)]
    if from_csv is None and not strongest.empty:
        extra = select_table_cells(strongest, eps_by_env)
        worst = worst_case_table(won, extra) if not extra.empty else pd.DataFrame()
        if not worst.empty:
            written += [_write(out, "worst_case.csv", worst.to_csv(index=False)),
                        _write(out, "worst_case.md", render_worst_case(worst, eps_by_env, opts.note))]
    if from_csv is None:
        written.append(_write(out, "robustness.csv", robustness_summary(cells).to_csv(index=False)))
        written += seed_statistics(cells, out, bounds, reference, eps_by_env, formats, results, checkpoints)
        written.append(_write(out, "adversaries.md", adversary_table(raw)))
        figs = out / "figures"
        written += eps_sweep(cells, figs) + attack_strength(cells, figs, eps_by_env)
        written += ablation_bars(raw, figs, eps_by_env)
        if checkpoints is not None and Path(checkpoints).is_dir():
            written += training_curves(checkpoints, figs)
    return written
