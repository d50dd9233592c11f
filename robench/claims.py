"""The ATSA paper's conclusions about Table 1, each checked against a report's per-seed scores.

Every claim is a set of directional comparisons between rows of one (map, learner) block, each
row a defense at its default settings, the unit the training seed:

  * a row's **AVG** in one seed is the mean of its win rates over the block's columns at the map's
    ε (Natural and every attack of the report: the paper's AVG, Table 1);
  * "X > Y" is **supported** when a one-sided Welch t-test over seeds gives p < 0.05, Holm-corrected
    over the comparisons of the claim (``robench.stats.welch_greater``, ``holm``); **contradicted**
    when the opposite direction is; otherwise **open** (always so where a row has one seed);
  * a claim is **reproduced** when every comparison is supported, **refuted** when one is
    contradicted, and **undecided** otherwise — with the point estimates beside it, and the rows
    it needs but the report lacks named.

The claims (the paper's Sec. 5.2 and Fig. 5):

  1. NoAdv and RN fail under attack: their win rate under the block's strongest attack is at
     most ``FAIL`` in every seed (refuted when it is above in every seed);
  2. PR, PR-REP and ERNIE trade clean win rate for robustness: clean below NoAdv's, AVG above;
  3. FGSM and PAAD lose clean win rate: clean below NoAdv's;
  4. ATSA has the highest AVG, with significant wins over every other defense;
  5. PAAD overfits its training ε while ATSA is stable across ε: the spread (max − min over the
     report's ε values) of the mean win rate under the attacks both rows were measured with at
     every ε is larger for PAAD than for ATSA.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from attacks import CLEAN
from robench.envs import PAPER_EPS
from robench.stats import holm, welch_greater
from robench.tables import table_eps

ALPHA = 0.05
"""Significance level of every comparison."""
FAIL = 0.10
"""The win rate under the strongest attack at or below which a row "fails under attack"."""


@dataclass
class Verdict:
    """One claim on one (map, learner) block."""

    claim: str
    verdict: str
    """``reproduced`` | ``refuted`` | ``undecided``."""
    evidence: list[str] = field(default_factory=list)


def block_scores(scores: pd.DataFrame, env: str, learner: str) -> pd.DataFrame:
    """The block's default-setting rows at the map's ε (and their clean cells): columns defense,
    seed, attack, eps, value."""
    eps = table_eps(scores, PAPER_EPS)[env]  # the rule of the report and the site
    s = scores[(scores.env == env) & (scores.learner == learner) & ~scores.defense.str.contains(r"\[", regex=True)]
    return s[(s.attack == CLEAN) | np.isclose(s.eps, eps)]


def per_seed(block: pd.DataFrame, defense: str, what: str) -> np.ndarray:
    """Per-seed values of ``defense``: ``clean``, ``avg`` (the AVG over every column of the block) or
    ``worst`` (the lowest attacked column); empty where the row lacks a column of the block."""
    columns = sorted(block.attack.unique())
    rows = block[block.defense == defense].pivot_table(index="seed", columns="attack", values="value")
    if rows.empty or any(c not in rows.columns for c in columns):
        return np.array([])
    rows = rows[columns].dropna()
    if what == "clean":
        return rows[CLEAN].to_numpy()
    if what == "worst":
        return rows.drop(columns=CLEAN).min(axis=1).to_numpy()
    return rows.mean(axis=1).to_numpy()


def _point(x: np.ndarray) -> str:
    return f"{x.mean():.2f} (n={len(x)})"


def compare(pairs: list[tuple[str, np.ndarray, np.ndarray]]) -> tuple[str, list[str]]:
    """(``reproduced`` / ``refuted`` / ``undecided``, a line per comparison) for the claims "a > b"
    of ``pairs`` (label, a, b), Holm-corrected over the pairs in each direction."""
    forward = [welch_greater(a, b) for _, a, b in pairs]
    backward = [welch_greater(b, a) for _, a, b in pairs]

    def corrected(ps: list[float | None]) -> list[float | None]:
        known = [p for p in ps if p is not None]
        adjusted = iter(holm(np.array(known))) if known else iter(())
        return [None if p is None else float(next(adjusted)) for p in ps]

    fwd, bwd = corrected(forward), corrected(backward)
    states, lines = [], []
    for (text, a, b), p, q in zip(pairs, fwd, bwd):
        state = "supported" if p is not None and p < ALPHA else "contradicted" if q is not None and q < ALPHA else "open"
        test = "no test (a row with one seed)" if p is None else f"Holm p = {p:.3f}"
        lines.append(f"{text}: {_point(a)} vs {_point(b)}, {test} → {state}")
        states.append(state)
    if "contradicted" in states:
        return "refuted", lines
    return ("reproduced" if states and all(s == "supported" for s in states) else "undecided"), lines


def _missing(block: pd.DataFrame, defenses: list[str], what: str = "avg") -> list[str]:
    return [d for d in defenses if not len(per_seed(block, d, what))]


def claim_fail(block: pd.DataFrame) -> Verdict:
    claim = "NoAdv and RN fail under attack"
    missing = _missing(block, ["noadv", "rn"], "worst")
    if missing:
        return Verdict(claim, "undecided", [f"rows missing: {', '.join(missing)}"])
    worst = {d: per_seed(block, d, "worst") for d in ("noadv", "rn")}
    lines = [f"{d}: win rate under the strongest attack {', '.join(f'{v:.2f}' for v in w)} per seed (fails: ≤ {FAIL:g})"
             for d, w in worst.items()]
    if all((w <= FAIL).all() for w in worst.values()):
        return Verdict(claim, "reproduced", lines)
    if any((w > FAIL).all() for w in worst.values()):
        return Verdict(claim, "refuted", lines)
    return Verdict(claim, "undecided", lines)


def claim_against_noadv(block: pd.DataFrame, claim: str, defenses: list[str], robust: bool) -> Verdict:
    """Clean below NoAdv's for each of ``defenses`` (and, with ``robust``, AVG above NoAdv's)."""
    missing = _missing(block, ["noadv", *defenses])
    present = [d for d in defenses if d not in missing]
    pairs = [(f"clean NoAdv > {d}", per_seed(block, "noadv", "clean"), per_seed(block, d, "clean")) for d in present]
    if robust:
        pairs += [(f"AVG {d} > NoAdv", per_seed(block, d, "avg"), per_seed(block, "noadv", "avg")) for d in present]
    if "noadv" in missing:
        return Verdict(claim, "undecided", ["rows missing: noadv"])
    verdict, lines = compare(pairs) if pairs else ("undecided", [])
    if missing and verdict != "refuted":
        verdict = "undecided"
    return Verdict(claim, verdict, lines + ([f"rows missing: {', '.join(missing)}"] if missing else []))


def claim_atsa_best(block: pd.DataFrame, defenses: list[str]) -> Verdict:
    claim = "ATSA has the highest AVG, with significant wins"
    if not len(per_seed(block, "atsa", "avg")):
        return Verdict(claim, "undecided", ["rows missing: atsa"])
    others = [d for d in defenses if d != "atsa"]
    missing = _missing(block, others)
    present = [d for d in others if d not in missing]
    atsa = per_seed(block, "atsa", "avg")
    verdict, lines = compare([(f"AVG ATSA > {d}", atsa, per_seed(block, d, "avg")) for d in present])
    ranked = sorted(present + ["atsa"], key=lambda d: -per_seed(block, d, "avg").mean())
    lines.insert(0, f"ATSA's AVG ranks {ranked.index('atsa') + 1} of {len(ranked)} (point estimates; best: {ranked[0]})")
    if missing:
        lines.append(f"rows missing: {', '.join(missing)}")
        verdict = "refuted" if verdict == "refuted" else "undecided"
    return Verdict(claim, verdict, lines)


def claim_eps_stability(scores: pd.DataFrame, env: str, learner: str) -> Verdict:
    """Claim 5 on the attacks both rows were measured with at every ε of the sweep (so a mean over
    attacks at one ε holds the same attacks as at another)."""
    claim = "PAAD overfits its training ε while ATSA is stable across ε"
    s = scores[(scores.env == env) & (scores.learner == learner) & (scores.attack != CLEAN)
               & scores.defense.isin(["paad", "atsa"])]
    epsilons = sorted(s.eps.unique())
    measured = s.groupby(["defense", "attack"]).eps.nunique()
    full = {d: set(measured[d][measured[d] == len(epsilons)].index) if d in set(s.defense) else set()
            for d in ("paad", "atsa")}
    common = sorted(full["paad"] & full["atsa"])
    if len(epsilons) < 3 or not common:
        return Verdict(claim, "undecided", [f"paad and atsa share {len(common)} attack(s) measured at each of "
                                            f"{len(epsilons)} ε value(s); the sweep needs three or more "
                                            f"(robench grid --eps 0.05:0.25)"])
    s = s[s.attack.isin(common)]
    spreads = {}
    for d in ("paad", "atsa"):
        sweep = s[s.defense == d].groupby(["seed", "eps"]).value.mean().unstack("eps").dropna()
        spreads[d] = (sweep.max(axis=1) - sweep.min(axis=1)).to_numpy()
    verdict, lines = compare([("ε spread PAAD > ATSA", spreads["paad"], spreads["atsa"])])
    eps_text = ", ".join(f"{e:g}" for e in epsilons)
    return Verdict(claim, verdict, [f"mean win rate under {', '.join(common)} at ε {eps_text}"] + lines)


def check_claims(scores: pd.DataFrame, env: str, learner: str, defenses: list[str]) -> list[Verdict]:
    """The five claims on the (``env``, ``learner``) block of a report's win-rate ``scores``
    (``scores.csv``: env, learner, defense, seed, attack, eps, value); ``defenses``: the registry's."""
    block = block_scores(scores, env, learner)
    return [claim_fail(block),
            claim_against_noadv(block, "PR, PR-REP and ERNIE trade clean win rate for robustness",
                                ["pr", "pr-rep", "ernie"], robust=True),
            claim_against_noadv(block, "FGSM and PAAD lose clean win rate", ["fgsm", "paad"], robust=False),
            claim_atsa_best(block, defenses),
            claim_eps_stability(scores, env, learner)]
