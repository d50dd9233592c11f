"""Paper-style tables from stored results: LaTeX tables with Markdown twins (``robench report`` writes them).

Table 1 style (win rates): rows = defenses within an env block, column blocks per learner
(VDN | QMIX), columns = attacks + AVG.  AVG = mean ± population std (ddof = 0) over the
attack columns (the clean "Natural" column included, as in the paper).  The best value of
each column within an env block is bold (ties all bold).  ``*`` marks a row's AVG where the
reference defense beats it in a one-sided Wilcoxon rank-sum test at p < 0.05 (unit stated in
the caption); Holm-corrected p-values go to the Markdown twin.
Table 2 style (CAV): per attack a Reward and a CR column.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from attacks import ATTACKS, CLEAN
from defenses import DEFENSES
from robench.grid import MASK_ONLY
from robench.learners.mixers import MIXERS
from robench.stats import eps_auc, holm, mean_std, ranksum_greater, t_interval, worst_case
from robench.threat import feature_spec

ATTACK_LABELS = {name: cls.label or name for name, cls in ATTACKS.items()}
"""Column labels, in the registry's order (``Attack.label``)."""
DEFENSE_LABELS = {**{name: cls.label or name for name, cls in DEFENSES.items()}, MASK_ONLY: "Mask-only (scripted)"}
"""Row labels, in the registry's order (``Defense.label``), and the scripted reference row."""
LEARNER_LABELS = {name: cls.label for name, cls in MIXERS.items()}
REFERENCE_ROWS = {MASK_ONLY}
"""Scripted reference rows (``robench.grid.MASK_ONLY``): shown, never tested against."""
UNITS = ("attack", "episode", "seed")


@dataclass
class TableOptions:
    reference: str | None = "atsa"
    """Reference defense of the significance test (None or absent → best-AVG row)."""
    unit: str = "attack"
    """Test unit: ``attack`` (per-attack cell values), ``episode`` or ``seed``."""
    alpha: float = 0.05
    note: str = ""
    """Appended to every caption (the threat model of the table)."""


def label(table: dict[str, str], key: str) -> str:
    """Display name; a variant row ``name[k=v]`` keeps its variant: ``Name [k=v]``."""
    base, bracket, variant = key.partition("[")
    return table.get(key, table.get(base, base) + (f" [{variant}" if bracket else ""))


def variant_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of one defense trained with different hyperparameters stay apart in the tables:
    ``defense`` becomes ``defense[variant]`` where the cell has a non-empty ``variant``; likewise
    columns of an attack on a subset M of the agents become ``attack[M=i,j]``, and of an attack
    restricted to some observation coordinates ``attack[features=0:4]``."""
    if "variant" in df.columns:
        v = df.variant.fillna("").astype(str)
        df = df.assign(defense=np.where(v != "", df.defense.astype(str) + "[" + v + "]", df.defense))
    if "attacked_agents" in df.columns:
        m = df.attacked_agents.map(lambda a: ",".join(map(str, a)) if isinstance(a, (list, tuple, np.ndarray)) else "")
        df = df.assign(attack=np.where(m != "", df.attack.astype(str) + "[M=" + m + "]", df.attack))
    if "features" in df.columns:
        f = df.features.map(lambda a: feature_spec(tuple(a)) if isinstance(a, (list, tuple, np.ndarray)) else "")
        df = df.assign(attack=np.where(f != "", df.attack.astype(str) + "[features=" + f + "]", df.attack))
    return df


def ordered(values, preferred: list[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    return [v for v in preferred if v in values] + sorted(v for v in values if v not in preferred)


def select_table_cells(cells: pd.DataFrame, eps_by_env: dict[str, float]) -> pd.DataFrame:
    """Cells of each env at its table ε (the clean ``none`` cells at ε = 0)."""
    keep = []
    for env, group in cells.groupby("env"):
        eps = eps_by_env[env]
        keep.append(group[(group.attack == CLEAN) | np.isclose(group.eps, eps)])
    return pd.concat(keep, ignore_index=True)


def table_eps(cells: pd.DataFrame, preferred: dict[str, float]) -> dict[str, float]:
    """Per env: the preferred (paper) ε when measured, else the largest measured ε."""
    out = {}
    for env, group in cells[cells.attack != CLEAN].groupby("env"):
        measured = sorted(group.eps.unique())
        want = preferred.get(env)
        out[env] = want if want is not None and any(np.isclose(measured, want)) else float(measured[-1])
    for env in cells.env.unique():
        out.setdefault(env, 0.0)
    return out


@dataclass
class TableData:
    """Aggregated values [env, learner, defense, attack] → value, plus per-unit samples for tests."""

    values: pd.DataFrame  # columns env, learner, defense, attack, value
    samples: dict[tuple[str, str, str], np.ndarray]  # (env, learner, defense) → test samples
    unit: str


def aggregate(cells: pd.DataFrame, metric: str, unit: str, episodes: pd.DataFrame | None = None) -> TableData:
    """Mean of ``metric`` over training seeds per (env, learner, defense, attack), with the number of
    seeds and the half-width of the 95 % t-interval over them (NaN with one seed); samples for the test."""
    if unit not in UNITS:
        raise ValueError(f"unknown test unit {unit!r}; known: {', '.join(UNITS)}")
    keys = ["env", "learner", "defense"]
    per_seed = cells.groupby(keys + ["attack", "seed"], as_index=False)[metric].mean()
    values = per_seed.groupby(keys + ["attack"], as_index=False).agg(
        value=(metric, "mean"), n_seeds=(metric, "size"),
        half=(metric, lambda x: np.nan if len(x) < 2 else (t_interval(x.to_numpy())[1] - x.mean())))
    samples: dict[tuple[str, str, str], np.ndarray] = {}
    for key, group in values.groupby(keys):
        if unit == "attack":
            samples[key] = group.value.to_numpy()
        elif unit == "seed":
            per_seed = cells[(cells.env == key[0]) & (cells.learner == key[1]) & (cells.defense == key[2])]
            samples[key] = per_seed.groupby("seed")[metric].mean().to_numpy()
        else:
            if episodes is None:
                raise ValueError("unit 'episode' needs per-episode records")
            ids = cells[(cells.env == key[0]) & (cells.learner == key[1]) & (cells.defense == key[2])].cell_id
            column = {"win_rate": "won", "mean_return": "return", "crash_rate": "crashed"}[metric]
            samples[key] = episodes[episodes.cell_id.isin(ids)][column].astype(float).to_numpy()
    return TableData(values=values, samples=samples, unit=unit)


def significance(data: TableData, opts: TableOptions, higher_is_better: bool = True) -> pd.DataFrame:
    """Per (env, learner): reference defense vs each other one; raw and Holm-adjusted p."""
    rows = []
    for (env, learner), group in data.values.groupby(["env", "learner"]):
        group = group[~group.defense.isin(REFERENCE_ROWS)]  # a scripted reference is no defense to test
        avg = group.groupby("defense").value.mean()
        defenses = list(avg.index)
        ref = opts.reference if opts.reference in defenses else (avg.idxmax() if higher_is_better else avg.idxmin())
        others = [d for d in defenses if d != ref]
        sign = 1.0 if higher_is_better else -1.0
        p = [ranksum_greater(sign * data.samples[(env, learner, ref)], sign * data.samples[(env, learner, d)])
             for d in others]
        adj = holm(np.array(p)) if p else []
        rows += [{"env": env, "learner": learner, "reference": ref, "defense": d, "p": pv, "p_holm": float(pa)}
                 for d, pv, pa in zip(others, p, adj)]
    return pd.DataFrame(rows, columns=["env", "learner", "reference", "defense", "p", "p_holm"])


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def seed_note(values: pd.DataFrame) -> str:
    """The caption's sentence on training seeds (the unit of the cell intervals)."""
    n = values.n_seeds if "n_seeds" in values.columns else pd.Series([1])
    if n.max() < 2:
        return "One training seed per row: no seed interval exists, each cell is one run."
    low, high = int(n.min()), int(n.max())
    span = f"{low}" if low == high else f"{low}–{high}"
    return (f"Cell ±: half-width of the 95 % t-interval of the mean over {span} training seeds (unit: training "
            f"seed; a cell without ± has one seed).")


def render_table1(data: TableData, sig: pd.DataFrame, opts: TableOptions, eps_by_env: dict[str, float],
                  caption_metric: str = "win rate", higher_is_better: bool = True,
                  changed: dict[tuple[str, str, str], float] | None = None) -> tuple[str, str]:
    """(LaTeX, Markdown) of a Table-1-style table.  With ``changed`` ((env, learner, defense) → the
    share of greedy actions a random observation changes, ``robench.diagnose_file.changed_shares``)
    each learner block ends in a "Changed %" column."""
    v = data.values
    envs = ordered(v.env, ["3m", "3s_vs_3z", "8m", "merge", "merge_safe"])
    learners = ordered(v.learner, ["vdn", "qmix"])
    attacks = ordered(v.attack, list(ATTACK_LABELS))
    defenses = ordered(v.defense, list(DEFENSE_LABELS))
    ncol = len(attacks) + 1 + bool(changed)
    spec = "ll" + ("c" * ncol) * len(learners)
    head_blocks = " & ".join(rf"\multicolumn{{{ncol}}}{{c}}{{{tex_escape(label(LEARNER_LABELS, lr))}}}" for lr in learners)
    rules = " ".join(rf"\cmidrule(lr){{{3 + i * ncol}-{2 + (i + 1) * ncol}}}" for i in range(len(learners)))
    col_names = [label(ATTACK_LABELS, a) for a in attacks] + ["AVG"] + (["Changed %"] if changed else [])
    best = max if higher_is_better else min
    tex = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
           rf" & & {head_blocks} \\", rules,
           " & ".join(["Env", "Defense"] + [tex_escape(c) for c in col_names] * len(learners)) + r" \\"]
    md_head = ["Env", "Defense"] + [f"{label(LEARNER_LABELS, lr)} {c}" for lr in learners for c in col_names]
    md = ["| " + " | ".join(md_head) + " |", "|" + "---|" * len(md_head)]
    for env in envs:
        tex.append(r"\midrule")
        block = v[v.env == env]
        table: dict[tuple[str, str], list[str]] = {}
        for lr in learners:
            sub = block[block.learner == lr]
            grid = sub.pivot_table(index="defense", columns="attack", values="value").reindex(columns=attacks)
            halves = sub.pivot_table(index="defense", columns="attack", values="half", dropna=False).reindex(
                columns=attacks)
            avgs = {d: mean_std(grid.loc[d, attacks].to_numpy()) for d in grid.index if grid.loc[d, attacks].notna().all()}
            col_best = {a: best(grid[a].dropna()) for a in attacks if grid[a].notna().any()}
            avg_best = best(m for m, _ in avgs.values()) if avgs else None
            starred = set(sig[(sig.env == env) & (sig.learner == lr) & (sig.p < opts.alpha)].defense)
            for d in defenses:
                cells = []
                for a in attacks:
                    x = grid.loc[d, a] if d in grid.index else np.nan
                    h = halves.loc[d, a] if d in halves.index else np.nan
                    text = _fmt(x) + (rf"$\pm${_fmt(h)}" if not np.isnan(h) else "")
                    cells.append("--" if np.isnan(x) else (rf"\textbf{{{text}}}" if np.isclose(x, col_best[a]) else text))
                if d in avgs:
                    m, s = avgs[d]
                    text = rf"{_fmt(m)}$\pm${_fmt(s)}"
                    text = rf"\textbf{{{text}}}" if np.isclose(m, avg_best) else text
                    cells.append(text + ("*" if d in starred else ""))
                else:
                    cells.append("--")
                if changed:
                    share = changed.get((env, lr, d))
                    cells.append("--" if share is None else f"{100 * share:.0f}")
                table[(d, lr)] = cells
        for i, d in enumerate(d for d in defenses if any(c != "--" for lr in learners for c in table[(d, lr)])):
            row = [env if i == 0 else "", label(DEFENSE_LABELS, d)] + [c for lr in learners for c in table[(d, lr)]]
            tex.append(" & ".join(tex_escape(x) for x in row[:2]) + " & " + " & ".join(row[2:]) + r" \\")
            md.append("| " + " | ".join(row[:2] + [_tex_to_md(x) for x in row[2:]]) + " |")
    refs = ", ".join(sorted(set(sig.reference))) or "n/a"
    eps_text = ", ".join(f"{e}: ε={eps_by_env[e]:g}" for e in envs)
    caption = (f"{caption_metric.capitalize()} per attack (columns) of protagonists trained by each defense (rows); "
               f"{eps_text}. AVG: mean ± population std over the attack columns. Bold: best per column. "
               f"*: one-sided Wilcoxon rank-sum test, reference {refs} better at p < {opts.alpha} "
               f"(test unit: {data.unit}). {seed_note(v)}"
               + (" Changed %: the share of greedy actions a random observation changes, mean over the row's seeds "
                  "(robench diagnose --save; -- where a seed has none)." if changed else "")
               ) + (f" {opts.note}" if opts.note else "")
    tex_caption = tex_escape(caption).replace("±", r"$\pm$").replace("ε", r"$\epsilon$").replace("L∞", r"$L_\infty$")
    tex += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{tex_caption}}}", r"\end{table}"]
    md.append("")
    md.append(caption)
    return "\n".join(tex) + "\n", "\n".join(md) + "\n"


_TEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": "$<$", ">": "$>$"}


def tex_escape(text: str) -> str:
    """Plain text (names of maps, defenses, attacks) made safe for LaTeX."""
    return "".join(_TEX_SPECIALS.get(ch, ch) for ch in str(text))


def _tex_to_md(x: str) -> str:
    return x.replace(r"\textbf{", "**").replace("}", "**").replace("$\\pm$", "±").replace(r"\_", "_")


def pooled_return(g: pd.DataFrame) -> pd.Series:
    """Mean return and episode std of one table cell pooled over its grid cells (seeds, evaluation
    seeds; equal episodes each): σ² = mean(σ_k²) + mean(μ_k²) − mean(μ_k)² (law of total variance)."""
    mu = g.mean_return.to_numpy(float)
    var = np.mean(g.std_return.to_numpy(float) ** 2) + np.mean(mu ** 2) - np.mean(mu) ** 2
    return pd.Series({"mean_return": mu.mean(), "std_return": float(np.sqrt(max(var, 0.0))),
                      "crash_rate": g.crash_rate.mean()})


def render_table2(cells: pd.DataFrame, note: str = "") -> tuple[str, str]:
    """(LaTeX, Markdown) of the paper's Table 2 layout (CAV): per attack column the Reward (mean ±
    episode std) and the crash rate CR; AVG = mean ± population std of the Reward and of the CR over
    the attack columns (clean included, as the paper's); bold: best Reward (highest) and CR
    (lowest) of each column among the rows of one env and learner."""
    keys = ["env", "learner", "defense", "attack"]
    if "std_return" not in cells:  # an external table (``--from-csv``) may give means only
        cells = cells.assign(std_return=np.nan)
    v = cells.groupby(keys)[["mean_return", "std_return", "crash_rate"]].apply(pooled_return).reset_index()
    attacks = ordered(v.attack, list(ATTACK_LABELS))
    spec = "lll" + "cc" * (len(attacks) + 1)
    head = " & ".join(rf"\multicolumn{{2}}{{c}}{{{tex_escape(c)}}}"
                      for c in [label(ATTACK_LABELS, a) for a in attacks] + ["AVG"])
    tex = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
           rf" & & & {head} \\", "Env & Learner & Defense & " + " & ".join(["Reward", "CR"] * (len(attacks) + 1))
           + r" \\", r"\midrule"]
    md = ["| Env | Learner | Defense | " + " | ".join(f"{c} {m}" for c in [label(ATTACK_LABELS, a) for a in attacks]
                                                  + ["AVG"] for m in ("Reward", "CR")) + " |",
          "|" + "---|" * (3 + 2 * (len(attacks) + 1))]
    for (env, lr), block in v.groupby(["env", "learner"]):
        reward = block.pivot_table(index="defense", columns="attack", values="mean_return")
        std = block.pivot_table(index="defense", columns="attack", values="std_return")
        crash = block.pivot_table(index="defense", columns="attack", values="crash_rate")
        full = [d for d in reward.index if reward.loc[d].reindex(attacks).notna().all()]
        avg = {d: (mean_std(reward.loc[d, attacks].to_numpy()), mean_std(crash.loc[d, attacks].to_numpy())) for d in full}
        for d in ordered(block.defense, list(DEFENSE_LABELS)):
            vals = []
            for a in attacks:
                if a not in reward or np.isnan(reward.loc[d, a]):
                    vals += ["--", "--"]
                    continue
                r = f"{reward.loc[d, a]:.2f}" + ("" if np.isnan(std.loc[d, a]) else rf"$\pm${std.loc[d, a]:.2f}")
                c = f"{crash.loc[d, a]:.2f}"
                vals += [rf"\textbf{{{r}}}" if np.isclose(reward.loc[d, a], reward[a].max()) and len(reward) > 1 else r,
                         rf"\textbf{{{c}}}" if np.isclose(crash.loc[d, a], crash[a].min()) and len(crash) > 1 else c]
            if d in avg:
                (rm, rs), (cm, cs) = avg[d]
                vals += [rf"{rm:.2f}$\pm${rs:.2f}", rf"{cm:.2f}$\pm${cs:.2f}"]
            else:
                vals += ["--", "--"]
            names = [env, label(LEARNER_LABELS, lr), label(DEFENSE_LABELS, d)]
            tex.append(" & ".join([tex_escape(x) for x in names] + vals) + r" \\")
            md.append("| " + " | ".join(names + [_tex_to_md(x) for x in vals]) + " |")
    caption = ("Mean episode return ± episode std (Reward) and crash rate (CR) per attack (columns) of protagonists "
               "trained by each defense (rows). AVG: mean ± population std over the columns. Bold: best per column."
               + (f" {note}" if note else ""))
    tex_caption = tex_escape(caption).replace("±", r"$\pm$").replace("L∞", r"$L_\infty$")
    tex += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{tex_caption}}}", r"\end{table}"]
    md += ["", caption]
    return "\n".join(tex) + "\n", "\n".join(md) + "\n"


def robustness_summary(cells: pd.DataFrame, metric: str = "win_rate") -> pd.DataFrame:
    """Beyond the paper, per (env, learner, defense, attack): area under the ε curve and, per
    (env, learner, defense), the worst case over attacks at each ε and the seed spread."""
    rows = []
    for (env, lr, d), g in cells.groupby(["env", "learner", "defense"]):
        attacked = g[g.attack != CLEAN]
        per_eps = attacked.groupby(["eps", "attack"])[metric].mean().unstack()
        seeds = g.groupby("seed")[metric].mean()
        row = {"env": env, "learner": lr, "defense": d,
               "worst_case": worst_case(per_eps.min(axis=1).to_numpy()) if len(per_eps) else np.nan,
               "seed_std": float(seeds.std(ddof=0)) if len(seeds) > 1 else np.nan, "n_seeds": int(len(seeds))}
        for attack in per_eps.columns:
            row[f"auc_{attack}"] = eps_auc(per_eps.index.to_numpy(), per_eps[attack].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)
