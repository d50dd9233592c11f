"""Figures from stored results (matplotlib, Agg; each saved as PDF and PNG).

* ε-sweep (paper Fig. 5): per (env, learner), one panel per attack, metric vs ε, a line per defense.
* attack strength (paper Fig. 3): per (env, learner), grouped bars of the metric per defense and attack.
* ablations (paper Figs. 2 and 4): per (env, learner, defense) and per defense hyperparameter
  (κ, α, …) that takes ≥ 2 values among its rows, grouped bars of the metric per attack, one bar
  per value; rows without the option count at the defense's declared default.
* training curves: every checkpoint's ``train_curve.csv`` — protagonists' greedy clean win rate and
  adversaries' victim win rate, each against env steps, one panel per (map, learner).
* robustness profile: per (env, learner), the share of (attack, ε) cells in which a defense's score
  exceeds τ, over τ (``robench.stats.robustness_profile``), with a 95 % stratified-bootstrap band
  over training seeds where a row has ≥ 2.
* clean-vs-robust trade-off: per (env, learner), clean score against the worst case over the
  attacked cells, one point per training seed.

Every defense keeps one colour in every figure (``defense_colour``); legends sit outside the data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from attacks import CLEAN  # noqa: E402
from robench.envs import declares  # noqa: E402
from robench.manifest import Manifest  # noqa: E402
from robench.tables import ATTACK_LABELS, DEFENSE_LABELS, LEARNER_LABELS, label, ordered  # noqa: E402


PALETTE = list(plt.get_cmap("tab10").colors) + ["#1b1b6b", "#b8860b", "#7fbf7f", "#ff9896"]
"""14 distinguishable colours: the registry's defenses take them in ``DEFENSE_LABELS`` order."""


def defense_colour(name: str):
    """The colour of a defense (its variant suffix ignored) in every figure; the scripted reference is black."""
    base = name.split("[")[0]
    if base == "mask-only":
        return "black"
    order = [d for d in DEFENSE_LABELS if d != "mask-only"]
    index = order.index(base) if base in order else len(order) + sum(map(ord, base)) % (len(PALETTE) - len(order))
    return PALETTE[index]


DASHES = ["-", "--", ":", "-."]
"""Line styles of one defense's variants, which share its hue."""

SHADES = [1.0, 0.55, 1.6]
"""Lightness factors of a defense's colour, one per round of ``DASHES`` (base, darker, lighter)."""


def variant_style(name: str, k: int) -> tuple[tuple[float, float, float] | str, str]:
    """(colour, dash) of the ``k``-th variant of ``name``'s defense: the k-th dash, and after every
    ``len(DASHES)`` variants the next shade of the defense's colour, so up to 12 variants of one
    defense stay apart while keeping its hue."""
    from matplotlib.colors import to_rgb

    dash, shade = DASHES[k % len(DASHES)], SHADES[(k // len(DASHES)) % len(SHADES)]
    colour = defense_colour(name)
    if shade == 1.0 or colour == "black":
        return colour, dash
    rgb = np.array(to_rgb(colour))
    mixed = rgb * shade if shade < 1 else 1 - (1 - rgb) / shade  # towards black, or towards white
    return tuple(float(c) for c in np.clip(mixed, 0, 1)), dash


def styles_in_turn(defenses: list[str]) -> list[tuple[tuple[float, float, float] | str, str]]:
    """(colour, dash) of each entry of ``defenses``: the k-th time a defense appears, its k-th
    style (``variant_style``)."""
    seen: dict[str, int] = {}
    styles = []
    for name in defenses:
        seen[name] = seen.get(name, -1) + 1
        styles.append(variant_style(name, seen[name]))
    return styles


def variant_styles(names: list[str]) -> dict[str, tuple[tuple[float, float, float] | str, str]]:
    """(colour, dash) of each row label: the variants of one defense (``fgsm``, ``fgsm[attack=pgd]``,
    …) share its hue and take the next style (``styles_in_turn``), in order of appearance."""
    return dict(zip(names, styles_in_turn([name.split("[")[0] for name in names])))


def _legend_outside(ax, **kwargs) -> None:
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False, **kwargs)


def _save(fig, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.pdf", out / f"{name}.png"]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def _metric(g: pd.DataFrame, metric: str | None) -> str:
    """The plotted cell column: ``metric`` if given, else win rate (SMAX) or mean return (CAV)."""
    if metric is not None:
        return metric
    wins = g.backend.map(lambda b: declares(b, "win_rate")) if "backend" in g else pd.Series([True])
    return "win_rate" if wins.any() else "mean_return"


def eps_sweep(cells: pd.DataFrame, out: Path, metric: str | None = None) -> list[Path]:
    """Per (map, learner), the paper's Fig. 5: the metric against ε, one panel per attack and one
    line per row, for the (row, attack) pairs measured at two or more ε (clean at ε = 0)."""
    written = []
    for (env, lr), g in cells.groupby(["env", "learner"]):
        column = _metric(g, metric)
        attacked = g[g.attack != CLEAN]
        swept = attacked.groupby(["defense", "attack"]).eps.nunique()
        swept = swept[swept > 1].reset_index()
        attacks = ordered(swept.attack, list(ATTACK_LABELS))
        if not attacks:
            continue
        fig, axes = plt.subplots(1, len(attacks), figsize=(3.2 * len(attacks), 2.8), sharey=True, squeeze=False)
        rows = ordered(swept.defense, list(DEFENSE_LABELS))
        styles = variant_styles(rows)
        for ax, attack in zip(axes[0], attacks):
            for d in rows:
                sub = g[(g.defense == d) & (g.attack == attack)].groupby("eps")[column].mean()
                clean = g[(g.defense == d) & (g.attack == CLEAN)][column].mean()
                xs, ys = list(sub.index), list(sub.values)
                if not np.isnan(clean):
                    xs, ys = [0.0] + xs, [clean] + ys
                colour, dash = styles[d]
                ax.plot(xs, ys, marker="o", ms=3, label=label(DEFENSE_LABELS, d), color=colour, ls=dash)
            ax.set_title(label(ATTACK_LABELS, attack))
            ax.set_xlabel("ε")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(column.replace("_", " "))
        _legend_outside(axes[0][-1])
        fig.suptitle(f"{env} · {label(LEARNER_LABELS, lr)}", y=1.06)
        written += _save(fig, out, f"eps_sweep_{env}_{lr}")
    return written


def attack_strength(cells: pd.DataFrame, out: Path, eps_by_env: dict[str, float],
                    metric: str | None = None) -> list[Path]:
    written = []
    for (env, lr), g in cells.groupby(["env", "learner"]):
        column = _metric(g, metric)
        g = g[(g.attack == CLEAN) | np.isclose(g.eps, eps_by_env[env])]
        attacks = ordered(g.attack, list(ATTACK_LABELS))
        defenses = ordered(g.defense, list(DEFENSE_LABELS))
        width = 0.8 / max(1, len(attacks))
        fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(defenses), 2.8))
        for i, a in enumerate(attacks):
            vals = [g[(g.defense == d) & (g.attack == a)][column].mean() for d in defenses]
            ax.bar(np.arange(len(defenses)) + i * width, vals, width, label=label(ATTACK_LABELS, a))
        ax.set_xticks(np.arange(len(defenses)) + width * (len(attacks) - 1) / 2,
                      [label(DEFENSE_LABELS, d) for d in defenses], rotation=35, ha="right", fontsize=7)
        ax.set_ylabel(column.replace("_", " "))
        ax.set_title(f"{env} · {label(LEARNER_LABELS, lr)} · ε={eps_by_env[env]:g}")
        _legend_outside(ax)
        written += _save(fig, out, f"attack_strength_{env}_{lr}")
    return written


PARAM_LABELS = {"kappa": "κ", "alpha": "α", "mu": "μ", "lambda": "λ"}


def split_settings(settings: Any) -> tuple[dict[str, float], dict[str, str]]:
    """A cell's ``settings`` (``robench.rows.settings_of``) → (its numeric defense settings, the
    ablation axes; everything else as ``key → value`` text, which only separates rows).  Cells
    without settings (the scripted reference row) give ({}, {})."""
    if not isinstance(settings, dict):
        return {}, {}
    numeric, other = {}, {}
    for key, value in (settings.get("defense") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            numeric[key] = float(value)
        else:
            other[key] = str(value)
    other.update({key: str(value) for key, value in (settings.get("learner") or {}).items()})
    return numeric, other


def ablation_bars(cells: pd.DataFrame, out: Path, eps_by_env: dict[str, float],
                  metric: str | None = None) -> list[Path]:
    """Bars of ``metric`` per attack (at the table ε) for each value of each varied numeric
    defense setting, within the rows that share every other setting."""
    if "settings" not in cells.columns:
        return []
    written = []
    parsed = cells.settings.map(split_settings)
    cells = cells.assign(_numeric=parsed.map(lambda p: p[0]), _other=parsed.map(lambda p: p[1]))
    for (env, lr, defense), block in cells[parsed.map(lambda p: bool(p[0]))].groupby(["env", "learner", "defense"]):
        keys = sorted({k for o in block._other for k in o})
        varied = [k for k in keys if len({o.get(k) for o in block._other}) > 1]  # the rest is common to the block
        block = block.assign(_group=block._other.map(lambda o: ",".join(f"{k}={o[k]}" for k in varied if k in o)))
        for other, g in block.groupby("_group"):
            written += _ablation_figures(g, out, env, lr, defense, other, eps_by_env, metric)
    return written


def _ablation_figures(g: pd.DataFrame, out: Path, env: str, lr: str, defense: str, other: str,
                      eps_by_env: dict[str, float], metric: str | None) -> list[Path]:
    """One figure per numeric setting that takes ≥ 2 values among the rows ``g``."""
    written = []
    column = _metric(g, metric)
    g = g[(g.attack == CLEAN) | np.isclose(g.eps, eps_by_env.get(env, np.nan))]
    for param in sorted({k for o in g._numeric for k in o}):
        values = pd.Series([o.get(param, np.nan) for o in g._numeric], index=g.index)
        levels = sorted(values.dropna().unique())
        if len(levels) < 2:
            continue
        attacks = ordered(g.attack, list(ATTACK_LABELS))
        name = PARAM_LABELS.get(param, param)
        width = 0.8 / len(levels)
        fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(attacks), 2.8))
        for i, level in enumerate(levels):
            sub = g[values == level]
            vals = [sub[sub.attack == a][column].mean() for a in attacks]
            ax.bar(np.arange(len(attacks)) + i * width, vals, width, label=f"{name} = {level:g}")
        ax.set_xticks(np.arange(len(attacks)) + width * (len(levels) - 1) / 2,
                      [label(ATTACK_LABELS, a) for a in attacks])
        ax.set_ylabel(column.replace("_", " "))
        if column.endswith("_rate"):
            ax.set_ylim(0, 1)
        row = label(DEFENSE_LABELS, defense) + (f" [{other}]" if other else "")
        ax.set_title(f"{env} · {label(LEARNER_LABELS, lr)} · {row} · ablation of {name}")
        ax.legend(fontsize=7)
        suffix = f"_{other.replace('=', '-').replace(',', '_')}" if other else ""
        written += _save(fig, out, f"ablation_{param}_{env}_{lr}_{defense}{suffix}")
    return written


def training_curves(checkpoints: Path, out: Path) -> list[Path]:
    """Protagonists: greedy clean win rate (SMAX) or return (CAV) vs env steps, and one figure per
    curve attack (``robench train --curve-attack``) of the win rate or return under it;
    adversaries: the victim's win rate (SMAX) or return (CAV) vs env steps.  One figure per kind
    and backend."""
    import json

    metrics = {("protagonist", "wins"): ("eval_win_rate", "greedy clean win rate", "training_curves"),
               ("protagonist", "returns"): ("eval_return", "greedy clean return", "training_curves_cav"),
               ("adversary", "wins"): ("victim_win_rate", "victim win rate under the adversary", "adversary_curves"),
               ("adversary", "returns"): ("victim_return", "victim return under the adversary",
                                          "adversary_curves_cav")}
    curves: dict[tuple[str, str], list[tuple[tuple[str, str], str, str, pd.DataFrame, float | None]]] = {
        k: [] for k in metrics}
    for path in sorted(Path(checkpoints).glob("**/train_curve.csv")):
        manifest = Manifest(json.loads((path.parent / "manifest.json").read_text()))
        name = manifest.defense if manifest.is_protagonist else manifest.attack
        tag = path.parent.name + ("" if manifest.is_protagonist else f" ε={manifest.eps:g}")
        key = (manifest.kind, "wins" if declares(manifest.backend, "win_rate") else "returns")
        panel = (manifest.map_name, manifest.victim_learner)
        curves[key].append((panel, tag, name or "", pd.read_csv(path), manifest.eps))
    figures = [(key, column, ylabel, filename, False) for key, (column, ylabel, filename) in metrics.items()]
    for key in (("protagonist", "wins"), ("protagonist", "returns")):
        column, ylabel, filename = metrics[key]
        attacked = sorted({c[len(column) + 1:] for r in curves[key] for c in r[3].columns if c.startswith(column + "_")})
        figures += [(key, f"{column}_{a}", f"{ylabel.replace('clean ', '')} under {a} at the run's ε",
                     f"{filename}_{a}", True) for a in attacked]
    written = []
    for key, column, ylabel, filename, under_attack in figures:
        runs = [(panel, f"{tag} ε={eps:g}" if under_attack else tag, name, df)  # under attack: the radius in the name
                for panel, tag, name, df, eps in curves[key] if column in df]
        if runs:
            written += _curve_panels(runs, column, ylabel, out, filename)
    return written


def _curve_panels(runs: list[tuple[tuple[str, str], str, str, pd.DataFrame]], column: str, ylabel: str,
                  out: Path, filename: str) -> list[Path]:
    """One panel per (map, learner): ``column`` against env steps for each run."""
    panels = sorted({r[0] for r in runs})
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.5, 2.6 * len(panels)), squeeze=False, sharex=True)
    for ax, panel in zip(axes[:, 0], panels):
        mine = sorted((r for r in runs if r[0] == panel), key=lambda r: r[1])
        for (_, tag, _, df), (colour, dash) in zip(mine, styles_in_turn([r[2] for r in mine])):
            ax.plot(df.t_env, df[column], label=tag, color=colour, ls=dash, lw=1.2)  # runs of one defense: its hue
        ax.set_title(f"{panel[0]} · {label(LEARNER_LABELS, panel[1])}", fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3)
        _legend_outside(ax, ncol=1 + len(mine) // 14)
    axes[-1, 0].set_xlabel("env steps")
    return _save(fig, out, filename)


def _panels(matrix) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    by: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for row in matrix.rows():
        by.setdefault((row[0], row[1]), []).append(row)
    return by


def robustness_profiles(matrix, out: Path, reps: int = 1000) -> list[Path]:
    """One figure per (env, learner): F(τ) per defense (``robench.stats.robustness_profile``)."""
    from robench.stats import robustness_profile, stratified_bootstrap_ci

    taus = np.linspace(0.0, 1.0, 101) if matrix.metric.endswith("_rate") else None
    written = []
    for (env, lr), rows in _panels(matrix).items():
        fig, ax = plt.subplots(figsize=(5.2, 3.2))
        span = taus
        if span is None:
            values = np.concatenate([matrix.attacked(r)[0].ravel() for r in rows])
            span = np.linspace(values.min(), values.max(), 101) if values.size else np.linspace(0, 1, 101)
        for row in sorted(rows, key=lambda r: list(DEFENSE_LABELS).index(r[2].split("[")[0])
                          if r[2].split("[")[0] in DEFENSE_LABELS else 99):
            x, _ = matrix.attacked(row)
            if not x.size:
                continue
            colour = defense_colour(row[2])
            ax.plot(span, robustness_profile(x, span), color=colour, lw=1.5,
                    label=f"{label(DEFENSE_LABELS, row[2])} (n={x.shape[0]})")
            if x.shape[0] >= 2:  # one bootstrap for the whole curve
                low, high = stratified_bootstrap_ci(x, lambda s: robustness_profile(s, span), reps)
                ax.fill_between(span, low, high, color=colour, alpha=0.15, lw=0)
        ax.set_xlabel(f"τ ({matrix.metric.replace('_', ' ')})")
        ax.set_ylabel("share of (attack, ε) cells > τ")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.set_title(f"Robustness profile · {env} · {label(LEARNER_LABELS, lr)} · bounds {matrix.bounds}", fontsize=9)
        _legend_outside(ax)
        written += _save(fig, out, f"robustness_profile_{env}_{lr}")
    return written


def tradeoff(matrix, out: Path) -> list[Path]:
    """One figure per (env, learner): clean score vs worst case over the attacked cells, per seed."""
    written = []
    for (env, lr), rows in _panels(matrix).items():
        points = []
        for row in rows:
            wide, clean = matrix.attacked_frame(row), matrix.clean(row)
            if wide.empty or clean.empty:
                continue
            worst = wide.min(axis=1)  # per seed
            both = [s for s in matrix.seeds(row) if s in clean.index and s in worst.index]
            if both:
                points.append((row, clean, worst, both))
        if not points:  # no row has both clean and attacked cells: no figure
            continue
        fig, ax = plt.subplots(figsize=(4.6, 3.4))
        for row, clean, worst, both in points:
            ax.scatter(clean[both], worst[both], color=defense_colour(row[2]), s=28, edgecolor="white", lw=0.5,
                       label=f"{label(DEFENSE_LABELS, row[2])} ({len(both)} seed{'s' * (len(both) != 1)})")
        ax.set_xlabel(f"clean {matrix.metric.replace('_', ' ')}")
        ax.set_ylabel("worst case over attacks and ε")
        if matrix.metric.endswith("_rate"):
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls=":")
        ax.grid(alpha=0.3)
        ax.set_title(f"Clean vs robust · {env} · {label(LEARNER_LABELS, lr)} · bounds {matrix.bounds}", fontsize=9)
        _legend_outside(ax)
        written += _save(fig, out, f"tradeoff_{env}_{lr}")
    return written
