"""``robench report``: read the results store (or an external CSV) and write every artefact."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from robench.checkpoint import CheckpointError, read_manifest
from robench.envs import PAPER_EPS
from robench.errors import RobenchError
from robench.figures import ablation_bars, attack_strength, eps_sweep, training_curves
from robench.report import (
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


class ReportError(RobenchError):
    """No results, or a malformed external table."""


def _write(out: Path, name: str, text: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


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
            m = read_manifest(Path(path))
            how = (f"co-trained by {m['co_trained_by']}" if m.get("co_trained_by")
                   else f"vs fixed victim {str(m.get('victim', ''))[:8]}")
            eps = f"{m.get('eps', float('nan')):g}"
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
    results store may outlive or travel without its zoo)."""
    keep = pd.Series(True, index=raw.index)
    for path_column, hash_column in (("checkpoint", "checkpoint_hash"), ("adversary", "adversary_hash")):
        if hash_column not in raw.columns or path_column not in raw.columns:
            continue
        live: dict[str, str | None] = {}
        for path in raw[path_column].dropna().unique():
            try:
                live[path] = read_manifest(Path(path))["content_hash"]
            except CheckpointError:
                live[path] = None
        now = raw[path_column].map(live)
        keep &= now.isna() | (now == raw[hash_column])
    return raw[keep]


def write_report(results: Path, out: Path, checkpoints: Path | None = None, reference: str | None = "atsa",
                 unit: str = "attack", from_csv: Path | None = None) -> list[Path]:
    """Write tables (LaTeX + Markdown), significance and robustness CSVs and figures; return paths."""
    opts = TableOptions(reference=reference, unit=unit)
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
        cells = variant_rows(raw)
        episodes = None
        if unit == "episode":
            episodes = load_episodes(results)
            episodes = variant_rows(episodes[episodes.cell_id.isin(raw.cell_id)])
        eps_by_env = table_eps(cells, PAPER_EPS)
        selected = select_table_cells(cells, eps_by_env)
    written = []
    won = selected[selected.backend != "cav"] if "backend" in selected.columns else selected  # CAV: no wins
    if "win_rate" in won.columns and not won.empty and won.win_rate.notna().any():
        data = aggregate(won, "win_rate", unit, episodes)
        sig = significance(data, opts)
        tex, md = render_table1(data, sig, opts, eps_by_env)
        written += [_write(out, "table1_win_rate.tex", tex), _write(out, "table1_win_rate.md", md),
                    _write(out, "significance.csv", sig.to_csv(index=False))]
    if "crash_rate" in selected.columns and (from_csv is not None and "mean_return" in selected.columns
                                             or (selected.get("backend") == "cav").any()):
        tex, md = render_table2(selected)
        written += [_write(out, "table2_reward_cr.tex", tex), _write(out, "table2_reward_cr.md", md)]
    if from_csv is None:
        written.append(_write(out, "robustness.csv", robustness_summary(cells).to_csv(index=False)))
        written.append(_write(out, "adversaries.md", adversary_table(raw)))
        figs = out / "figures"
        written += eps_sweep(cells, figs) + attack_strength(cells, figs, eps_by_env)
        written += ablation_bars(raw, figs, eps_by_env)
        if checkpoints is not None and Path(checkpoints).is_dir():
            written += training_curves(checkpoints, figs)
    return written
