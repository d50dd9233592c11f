"""The strongest attack found on each row: Table 1's columns beside stronger attacks kept out of it.

Table 1's learned columns are served by one adversary per (map, learner), the one the ATLA, PAAD
or ATSA row co-trained, as in the paper; a row can be weaker against an adversary trained against
it alone, and PGD from random restarts can find perturbations that single-start PGD misses. These
stronger cells — an attack whose class sets ``worst_case_only`` (``pgd-r``), or a learned attack
whose adversary the grid trained afresh against the row (``robench grid --retrain-adversaries``:
the cell's ``retrain``) — stay out of Table 1, so its columns and AVG remain the paper's, and
form this table instead: per row at the map's table ε,

  * **Table 1 worst** = min over Table 1's attacked columns of the column's mean over seeds,
  * each stronger column's mean over seeds (``--`` where the row was not measured with it),
  * **worst overall** = the min over both, with the column that attains it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from attacks import ATTACKS, CLEAN
from robench.tables import ATTACK_LABELS, DEFENSE_LABELS, LEARNER_LABELS, label, ordered

FRESH = "+fresh"
"""Suffix of a column served by adversaries trained afresh against each row."""


def _retrained(cells: pd.DataFrame) -> pd.Series:
    """Which cells' adversary the grid trained afresh against the row (their ``retrain``)."""
    return cells["retrain"].notna() if "retrain" in cells.columns else pd.Series(False, index=cells.index)


def stronger(cells: pd.DataFrame) -> pd.Series:
    """Which ``cells`` (a results store's rows) belong to this table and not to Table 1."""
    only = cells.attack.map(lambda a: bool(getattr(ATTACKS.get(a), "worst_case_only", False)))
    return _retrained(cells) | only


def column_of(cells: pd.DataFrame) -> pd.Series:
    """Each cell's column name: its attack, with ``+fresh`` for a retrained adversary's."""
    return cells.attack.where(~_retrained(cells), cells.attack + FRESH)


def column_label(column: str) -> str:
    base, fresh, _ = column.partition(FRESH)
    return label(ATTACK_LABELS, base) + (" (fresh)" if fresh else "")


def worst_case_table(table: pd.DataFrame, extra: pd.DataFrame, metric: str = "win_rate") -> pd.DataFrame:
    """One row per (env, learner, defense) of ``table`` (Table 1's cells at the table ε, clean
    included) with ``extra`` (the stronger cells at the same ε): n_seeds, clean, table1_worst and
    its column, each stronger column, worst and its column."""
    both = pd.concat([table.assign(column=table.attack, stronger=False),
                      extra.assign(column=column_of(extra), stronger=True)], ignore_index=True)
    means = (both.groupby(["env", "learner", "defense", "column", "stronger", "seed"])[metric].mean()
             .groupby(["env", "learner", "defense", "column", "stronger"]).mean().reset_index())
    columns = sorted(means[means.stronger].column.unique(),
                     key=lambda c: (list(ATTACK_LABELS).index(c.partition(FRESH)[0]) if c.partition(FRESH)[0]
                                    in ATTACK_LABELS else 99, c))
    seeds = table.groupby(["env", "learner", "defense"]).seed.nunique()
    rows = []
    for (env, learner, defense), g in means.groupby(["env", "learner", "defense"]):
        attacked = g[g.column != CLEAN]
        own = attacked[~attacked.stronger]
        if own.empty:
            continue
        row = {"env": env, "learner": learner, "defense": defense, "n_seeds": seeds[(env, learner, defense)],
               "clean": g[g.column == CLEAN][metric].mean()}
        first = own.loc[own[metric].idxmin()]
        row.update(table1_worst=first[metric], table1_worst_column=first.column)
        for c in columns:
            hit = attacked[attacked.column == c][metric]
            row[c] = float(hit.iloc[0]) if len(hit) else np.nan
        last = attacked.loc[attacked[metric].idxmin()]
        row.update(worst=last[metric], worst_column=last.column)
        rows.append(row)
    return pd.DataFrame(rows)


def render_worst_case(df: pd.DataFrame, eps_by_env: dict[str, float], note: str = "") -> str:
    """The Markdown table of ``worst_case_table``."""
    columns = [c for c in df.columns if c not in ("env", "learner", "defense", "n_seeds", "clean", "table1_worst",
                                                   "table1_worst_column", "worst", "worst_column")]
    head = ["Env", "Learner", "Defense", "n", "Natural", "Table 1 worst"] + [column_label(c) for c in columns] + ["Worst overall"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def num(x: float) -> str:
        return "--" if np.isnan(x) else f"{x:.2f}"

    for env in ordered(df.env, list(eps_by_env)):
        for learner in ordered(df[df.env == env].learner, list(LEARNER_LABELS)):
            block = df[(df.env == env) & (df.learner == learner)]
            for defense in ordered(block.defense, list(DEFENSE_LABELS)):
                r = block[block.defense == defense].iloc[0]
                cells = [env, label(LEARNER_LABELS, learner), label(DEFENSE_LABELS, defense), str(int(r.n_seeds)),
                         num(r.clean), f"{num(r.table1_worst)} ({column_label(r.table1_worst_column)})"]
                cells += [num(r[c]) for c in columns]
                cells.append(f"{num(r.worst)} ({column_label(r.worst_column)})")
                lines.append("| " + " | ".join(cells) + " |")
    eps_text = ", ".join(f"{e}: ε={eps_by_env[e]:g}" for e in ordered(df.env, list(eps_by_env)))
    lines += ["", f"Win rate under the strongest attack found per row; {eps_text}. Table 1 worst: the lowest of "
                  f"Table 1's attacked columns; the other columns are stronger attacks kept out of Table 1 "
                  f"(robench.worst_case): PGD from random restarts, and adversaries trained afresh against the row "
                  f"(robench grid --retrain-adversaries). Each value is the mean over the row's training seeds." +
              (f" {note}" if note else "")]
    return "\n".join(lines) + "\n"
