"""The paper's claims checked on per-seed scores (``robench.claims``)."""
import numpy as np
import pandas as pd

from robench.claims import check_claims, claim_atsa_best, claim_eps_stability, claim_fail, block_scores
from robench.stats import welch_greater

ATTACKS = ("none", "random", "fgsm")


def scores(rows: dict[str, tuple[float, float]], seeds=(0, 1, 2), eps=(0.25,), jitter=0.01) -> pd.DataFrame:
    """Tidy win rates: defense → (clean, attacked) means, three seeds with a small spread."""
    out = []
    for d, (clean, attacked) in rows.items():
        for seed in seeds:
            shift = jitter * (seed - 1)
            out.append(("3m", "vdn", d, seed, "none", 0.0, clean + shift))
            for e in eps:
                for a in ATTACKS[1:]:
                    out.append(("3m", "vdn", d, seed, a, e, attacked + shift))
    return pd.DataFrame(out, columns=["env", "learner", "defense", "seed", "attack", "eps", "value"])


def test_welch_greater_needs_two_values_per_side_and_a_spread():
    assert welch_greater(np.array([0.9]), np.array([0.1, 0.2])) is None
    assert welch_greater(np.zeros(3), np.zeros(3)) is None
    assert welch_greater(np.array([0.9, 0.91, 0.92]), np.array([0.1, 0.12, 0.11])) < 0.001
    assert welch_greater(np.array([0.1, 0.12, 0.11]), np.array([0.9, 0.91, 0.92])) > 0.999


def test_atsa_best_is_reproduced_refuted_or_undecided_by_the_seeds():
    defenses = ["noadv", "fgsm", "atsa"]
    best = block_scores(scores({"noadv": (0.9, 0.0), "fgsm": (0.8, 0.4), "atsa": (0.9, 0.7)}), "3m", "vdn")
    assert claim_atsa_best(best, defenses).verdict == "reproduced"
    beaten = block_scores(scores({"noadv": (0.9, 0.0), "fgsm": (0.9, 0.8), "atsa": (0.9, 0.5)}), "3m", "vdn")
    assert claim_atsa_best(beaten, defenses).verdict == "refuted"
    one_seed = block_scores(scores({"noadv": (0.9, 0.0), "fgsm": (0.8, 0.4), "atsa": (0.9, 0.7)}, seeds=(0,)), "3m", "vdn")
    verdict = claim_atsa_best(one_seed, defenses)
    assert verdict.verdict == "undecided" and "no test" in verdict.evidence[1]
    missing = claim_atsa_best(best, [*defenses, "paad"])
    assert missing.verdict == "undecided" and "rows missing: paad" in missing.evidence[-1]


def test_failing_under_attack_is_judged_per_seed():
    fails = block_scores(scores({"noadv": (0.9, 0.0), "rn": (0.9, 0.05)}), "3m", "vdn")
    assert claim_fail(fails).verdict == "reproduced"
    holds = block_scores(scores({"noadv": (0.9, 0.0), "rn": (0.9, 0.6)}), "3m", "vdn")
    assert claim_fail(holds).verdict == "refuted"


def test_eps_stability_needs_a_sweep_and_compares_the_spreads():
    flat = scores({"paad": (0.9, 0.5), "atsa": (0.9, 0.5)})
    assert claim_eps_stability(flat, "3m", "vdn").verdict == "undecided"
    rows = []
    for seed in (0, 1, 2):
        for e, paad, atsa in ((0.05, 0.9, 0.6), (0.15, 0.6, 0.58), (0.25, 0.2 + 0.01 * seed, 0.55 + 0.01 * seed)):
            rows += [("3m", "vdn", "paad", seed, "fgsm", e, paad), ("3m", "vdn", "atsa", seed, "fgsm", e, atsa)]
    sweep = pd.DataFrame(rows, columns=["env", "learner", "defense", "seed", "attack", "eps", "value"])
    assert claim_eps_stability(sweep, "3m", "vdn").verdict == "reproduced"


def test_eps_stability_reads_only_the_attacks_measured_at_every_eps():
    rows = []
    for seed in (0, 1, 2):
        for e, paad, atsa in ((0.05, 0.9, 0.6), (0.15, 0.6, 0.58), (0.25, 0.2 + 0.01 * seed, 0.55 + 0.01 * seed)):
            rows += [("3m", "vdn", "paad", seed, "fgsm", e, paad), ("3m", "vdn", "atsa", seed, "fgsm", e, atsa)]
        # PGD at the table's ε only: in a mean over attacks it would flatten PAAD's curve and tilt ATSA's
        rows += [("3m", "vdn", "paad", seed, "pgd", 0.25, 1.0), ("3m", "vdn", "atsa", seed, "pgd", 0.25, 0.0)]
    verdict = claim_eps_stability(pd.DataFrame(rows, columns=["env", "learner", "defense", "seed", "attack", "eps", "value"]),
                                  "3m", "vdn")
    assert verdict.verdict == "reproduced"
    assert verdict.evidence[0].startswith("mean win rate under fgsm at ε 0.05, 0.15, 0.25")


def test_every_claim_has_a_verdict_and_variants_are_not_rows():
    s = scores({"noadv": (0.9, 0.0), "rn": (0.9, 0.0), "fgsm": (0.8, 0.4), "fgsm[attack=pgd]": (0.9, 0.99),
                "atsa": (0.9, 0.7), "pr": (0.8, 0.3), "pr-rep": (0.8, 0.3), "ernie": (0.8, 0.3), "paad": (0.8, 0.3)})
    verdicts = check_claims(s, "3m", "vdn", ["noadv", "rn", "fgsm", "atsa", "pr", "pr-rep", "ernie", "paad"])
    assert [v.verdict for v in verdicts] == ["reproduced", "reproduced", "reproduced", "reproduced", "undecided"]
