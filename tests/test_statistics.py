"""Seed-level statistics: the score matrix, intervals over training seeds, robustness profiles,
the seed-aware Table 1, the marl-eval export and the new figures, on hand-computed cases and a
small real store (two training seeds per defense)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from rliable import metrics as rly

from robench.checkpoint import protagonist_tensors, save_checkpoint
from robench.envs import make_env
from robench.errors import RobenchError
from robench.grid import GridSpec, run_grid
from robench.learners.agent import RNNAgent
from robench.learners.mixers import make_mixer
from robench.tables import TableOptions, aggregate, render_table1, significance
from robench.scores import score_matrix, seed_summary
from robench.stats import (iqm, probability_of_improvement, robustness_profile, stratified_bootstrap_ci,
                           t_interval)
from robench.store import load_cells, load_episodes
from robench.threat import ThreatModel

ROBENCH = str(Path(sys.executable).parent / "robench")


def test_t_interval_by_hand_and_none_for_one_seed():
    low, high = t_interval(np.array([0.2, 0.4, 0.6]))
    half = scipy.stats.t.ppf(0.975, 2) * 0.2 / np.sqrt(3)  # s = 0.2 (ddof 1)
    assert low == pytest.approx(0.4 - half, abs=1e-12) and high == pytest.approx(0.4 + half, abs=1e-12)
    assert t_interval(np.array([0.7])) is None


def test_iqm_and_improvement_agree_with_rliable_and_hand_values():
    x = np.arange(8, dtype=float).reshape(2, 4)  # IQM of 0..7: mean of 2, 3, 4, 5
    assert iqm(x) == pytest.approx(3.5, abs=1e-12) == rly.aggregate_iqm(x)
    gen = np.random.default_rng(0)
    a, b = gen.random((3, 5)), gen.random((4, 5))
    assert abs(iqm(a) - rly.aggregate_iqm(a)) < 1e-6
    assert abs(probability_of_improvement(a, b) - rly.probability_of_improvement(a, b)) < 1e-6
    # one task: X = {1, 2} against Y = {1.5}: P = (0 + 1) / 2; a tie counts 1/2
    assert probability_of_improvement(np.array([[1.0], [2.0]]), np.array([[1.5]])) == pytest.approx(0.5)
    assert probability_of_improvement(np.array([[1.0]]), np.array([[1.0]])) == pytest.approx(0.5)


def test_stratified_bootstrap_resamples_seeds_within_each_task():
    x = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]])
    seen: list[np.ndarray] = []

    def record(sample: np.ndarray) -> float:
        seen.append(sample.copy())
        return float(sample.mean())

    low, high = stratified_bootstrap_ci(x, record, reps=200, seed=1)
    assert all(set(s[:, 0]) <= {0.0, 1.0, 2.0} and set(s[:, 1]) <= {10.0, 11.0, 12.0} for s in seen)
    assert any(not np.array_equal(s[:, 1] - s[:, 0], np.full(3, 10.0)) for s in seen)  # tasks drawn independently
    assert 5.0 <= low <= 6.0 <= high <= 7.0
    assert stratified_bootstrap_ci(x, record, reps=200, seed=1) == (low, high)  # seeded
    assert stratified_bootstrap_ci(np.ones((3, 2)), np.mean) == (1.0, 1.0)
    assert stratified_bootstrap_ci(x[:1], np.mean) is None  # one seed: no interval


def test_robustness_profile_by_hand():
    x = np.array([[0.1, 0.5, 0.9], [0.3, 0.5, 0.7]])
    assert robustness_profile(x, [0.0, 0.4, 0.5, 0.8, 1.0]).tolist() == pytest.approx([1.0, 4 / 6, 2 / 6, 1 / 6, 0.0])


def _cells(values: dict[tuple[str, int, str], float], bounds: str = "none") -> pd.DataFrame:
    rows = [{"env": "3m", "learner": "vdn", "defense": d, "seed": s, "attack": a, "eps": 0.0 if a == "none" else 0.25,
             "win_rate": v, "bounds": bounds, "backend": "smax"} for (d, s, a), v in values.items()]
    return pd.DataFrame(rows)


def test_score_matrix_and_seed_summary():
    vals = {("fgsm", 0, "none"): 0.9, ("fgsm", 1, "none"): 0.7, ("fgsm", 0, "fgsm"): 0.6, ("fgsm", 1, "fgsm"): 0.4,
            ("fgsm", 0, "pgd"): 0.2, ("fgsm", 1, "pgd"): 0.0, ("noadv", 0, "none"): 0.95, ("noadv", 0, "fgsm"): 0.0,
            ("noadv", 0, "pgd"): 0.0}
    matrix = score_matrix(_cells(vals))
    x, cells = matrix.attacked(("3m", "vdn", "fgsm"))
    assert cells == [("fgsm", 0.25), ("pgd", 0.25)] and x.tolist() == [[0.6, 0.2], [0.4, 0.0]]
    summary = seed_summary(matrix, reference="fgsm", reps=500).set_index("defense")
    f, n = summary.loc["fgsm"], summary.loc["noadv"]
    assert f.n_seeds == 2 and f.clean == pytest.approx(0.8) and f.worst_case == pytest.approx(0.1)  # min of seed means
    assert f.clean_low < 0.8 < f.clean_high and f.worst_case_low <= 0.1 <= f.worst_case_high
    assert n.n_seeds == 1 and np.isnan(n.clean_low) and np.isnan(n.iqm_low)  # one seed: no interval
    # FGSM cell: both FGSM seeds beat NoAdv's 0 (1); PGD cell: 0.2 beats 0, 0.0 ties (¾): P = (1 + ¾) / 2
    assert n.p_improvement_by_reference == pytest.approx(0.875)
    with pytest.raises(RobenchError, match="one threat model"):
        score_matrix(pd.concat([_cells(vals), _cells({("rn", 0, "none"): 0.5}, bounds="box")]))


def test_table1_shows_seed_intervals_only_where_seeds_exist():
    two = _cells({("fgsm", s, a): v for s in (0, 1) for a, v in (("none", 0.8 + 0.1 * s), ("fgsm", 0.5))})
    data = aggregate(two, "win_rate", "attack")
    _, md = render_table1(data, significance(data, TableOptions(reference=None)), TableOptions(), {"3m": 0.25})
    half = scipy.stats.t.ppf(0.975, 1) * np.std([0.8, 0.9], ddof=1) / np.sqrt(2)
    assert f"0.85±{half:.2f}" in md and "95 % t-interval of the mean over 2 training seeds (unit: training seed" in md
    one = _cells({("fgsm", 0, "none"): 0.8, ("fgsm", 0, "fgsm"): 0.5})
    data = aggregate(one, "win_rate", "attack")
    _, md = render_table1(data, significance(data, TableOptions(reference=None)), TableOptions(), {"3m": 0.25})
    assert "no seed interval exists" in md and "±0." not in md.split("\n")[2].split("|")[3]


def test_table1_changed_column_reads_each_seeds_saved_diagnosis(tmp_path):
    from robench.diagnose_file import changed_shares, save_diagnosis

    rows = []
    for seed, share in ((0, 0.2), (1, 0.4)):
        ckpt = tmp_path / f"vdn_fgsm_s{seed}"
        ckpt.mkdir()
        save_diagnosis(ckpt, f"hash{seed}", {"changed_share": share}, episodes=10, seed=0)
        rows += [{"defense": "fgsm", "seed": seed, "checkpoint": str(ckpt), "checkpoint_hash": f"hash{seed}"}]
    stale = tmp_path / "vdn_rn_s0"
    stale.mkdir()
    save_diagnosis(stale, "older weights", {"changed_share": 0.9}, episodes=10, seed=0)
    rows += [{"defense": "rn", "seed": 0, "checkpoint": str(stale), "checkpoint_hash": "today's weights"}]
    cells = pd.DataFrame([{"env": "3m", "learner": "vdn", **r} for r in rows])
    changed = changed_shares(cells)
    assert changed == {("3m", "vdn", "fgsm"): pytest.approx(0.3)}  # a diagnosis of other weights is not read
    values = _cells({(d, s, a): 0.5 for d, seeds in (("fgsm", (0, 1)), ("rn", (0,))) for s in seeds for a in ("none", "fgsm")})
    data = aggregate(values, "win_rate", "attack")
    _, md = render_table1(data, significance(data, TableOptions(reference=None)), TableOptions(), {"3m": 0.25},
                          changed=changed)
    head, _, rn, fgsm = md.split("\n")[:4]
    assert head.endswith("VDN AVG | VDN Changed % |") and fgsm.endswith("| 30 |") and rn.endswith("| -- |")
    _, plain = render_table1(data, significance(data, TableOptions(reference=None)), TableOptions(), {"3m": 0.25})
    assert "Changed" not in plain


def _zoo(root: Path) -> Path:
    info = make_env("3m", 1).info()
    for defense in ("noadv", "rn"):
        for seed in (0, 1):
            torch.manual_seed(seed + 10 * (defense == "rn"))
            agent = RNNAgent(info.obs_dim, info.n_agents, info.n_actions)
            manifest = {"kind": "protagonist", "env": info.__dict__, "learner": "vdn", "defense": defense, "seed": seed,
                        "config": {"learner": {"hidden": 64}}}
            save_checkpoint(root / f"vdn_{defense}_s{seed}", protagonist_tensors(agent, make_mixer("vdn", 3, 1)), manifest)
    return root


def _validate_marl_eval(data: dict) -> None:
    """marl-eval's documented raw-data schema (instadeepai/marl-eval README): environment → task →
    algorithm → run → {step_k: {step_count: int, metric: [numbers]}, absolute_metrics: {metric: [numbers]}}."""
    assert isinstance(data, dict) and data
    for tasks in data.values():
        for algorithms in tasks.values():
            for runs in algorithms.values():
                for run in runs.values():
                    assert "absolute_metrics" in run
                    for key, entry in run.items():
                        assert key == "absolute_metrics" or (key.startswith("step_") and key[5:].isdigit())
                        if key != "absolute_metrics":
                            assert isinstance(entry.pop("step_count"), int)
                        assert all(isinstance(v, list) and all(isinstance(x, float) for x in v) for v in entry.values())


def test_report_over_two_seeds_exports_marl_eval_and_draws_the_figures(tmp_path):
    zoo = _zoo(tmp_path / "zoo")
    run_grid(GridSpec(eps=[0.1, 0.25], attacks=["none", "random", "fgsm"], checkpoints=zoo, results=tmp_path / "res",
                      episodes=12, threat=ThreatModel(bounds="none")))
    res = subprocess.run([ROBENCH, "report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep"),
                          "--reference", "rn", "--format", "marl-eval"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    rep = tmp_path / "rep"
    md = (rep / "table1_win_rate.md").read_text()
    assert "over 2 training seeds (unit: training seed" in md
    summary = pd.read_csv(rep / "seed_summary.csv")
    assert set(summary.n_seeds) == {2} and summary.clean_low.notna().all()
    scores = pd.read_csv(rep / "scores.csv")
    assert set(scores[scores.attack != "none"].eps) == {0.1, 0.25}  # scores.csv keeps the sweep
    at_table = scores[(scores.attack != "none") & (scores.eps == 0.25)]
    for row in summary.itertuples():  # the summary reads the table's ε only
        mine = at_table[at_table.defense == row.defense]
        assert row.mean == pytest.approx(mine.groupby("seed").value.mean().mean())
    for name in ("robustness_profile_3m_vdn", "tradeoff_3m_vdn", "eps_sweep_3m_vdn", "attack_strength_3m_vdn"):
        assert (rep / "figures" / f"{name}.png").stat().st_size > 5000  # every figure of the report renders
    data = json.loads((rep / "marl_eval.json").read_text())
    cells, episodes = load_cells(tmp_path / "res"), load_episodes(tmp_path / "res")
    cells = cells[cells.defense != "mask-only"]
    for _, c in cells.iterrows():
        name = "win_rate" if c.attack == "none" else f"win_rate_{c.attack}_eps{c.eps:g}"
        got = data["smax"]["3m"][f"vdn_{c.defense}"][f"run_{c.seed}"]["absolute_metrics"][name]
        assert len(got) == 12 and np.mean(got) == pytest.approx(c.win_rate)
        assert got == episodes[episodes.cell_id == c.cell_id].won.astype(float).tolist()
    _validate_marl_eval(data)
    # a grid without clean cells has no clean-vs-robust points: no trade-off figure, the others drawn
    run_grid(GridSpec(eps=[0.25], attacks=["fgsm"], checkpoints=zoo, results=tmp_path / "res2", episodes=12,
                      threat=ThreatModel(bounds="none")))
    res = subprocess.run([ROBENCH, "report", "--results", str(tmp_path / "res2"), "--out", str(tmp_path / "rep2")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "rep2" / "figures" / "tradeoff_3m_vdn.png").exists()
    assert (tmp_path / "rep2" / "figures" / "attack_strength_3m_vdn.png").exists()
    assert not (tmp_path / "rep2" / "figures" / "eps_sweep_3m_vdn.png").exists()  # one ε: no sweep to draw

    pages = subprocess.run([ROBENCH, "pages", "--report", str(rep), "--out", str(tmp_path / "pages"),
                            "--paper", "reports/paper_table1.csv"], capture_output=True, text=True, timeout=300)
    assert pages.returncode == 0, pages.stderr
    page = (tmp_path / "pages" / "3m.md").read_text()
    assert "| VDN | NoAdv | 2 |" in page and "## Where this measurement differs from the paper's" in page
    noadv = summary[summary.defense == "noadv"].iloc[0]
    assert f"{noadv.clean:.2f} [{noadv.clean_low:.2f}, {noadv.clean_high:.2f}]" in page


def test_significance_stars_the_rows_the_reference_beats():
    vals = {("noadv", 0, a): 0.9 for a in ("none", "fgsm", "pgd", "random")}
    vals.update({("rn", 0, a): v for a, v in (("none", 0.2), ("fgsm", 0.1), ("pgd", 0.15), ("random", 0.05))})
    data = aggregate(_cells(vals), "win_rate", "attack")
    sig = significance(data, TableOptions(reference="noadv"))
    row = sig.set_index("defense").loc["rn"]
    # 4 vs 4 fully separated: rank sum of the reference W = 26, E = 18, sd = √(4·4·9/12) = √12 → z = 8/√12
    assert row.p == pytest.approx(scipy.stats.norm.sf(8 / np.sqrt(12)), rel=1e-6)

    def starred(md: str) -> set[str]:  # the AVG cell carries a star (bold adds an even number of *)
        cells = [[c.strip() for c in line.split("|")[1:-1]] for line in md.splitlines() if line.startswith("| ")]
        return {c[1] for c in cells[1:] if c[-1].count("*") % 2 == 1}

    _, md = render_table1(data, sig, TableOptions(reference="noadv"), {"3m": 0.25})
    assert starred(md) == {"RN"}
    sig_rev = significance(data, TableOptions(reference="rn"))
    assert sig_rev.set_index("defense").loc["noadv"].p > 0.5
    _, md = render_table1(data, sig_rev, TableOptions(reference="rn"), {"3m": 0.25})
    assert starred(md) == set()


def test_training_curves_are_also_tensorboard_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from robench.learners.learner import LearnerConfig
    from robench.runs import TENSORBOARD_DIR, train_and_save
    from robench.train import TrainConfig

    cfg = TrainConfig(env="3m", defense="noadv", steps=600, n_envs=4, updates_per_rollout=1, eval_every=300,
                      eval_episodes=4, final_eval_episodes=4, learner=LearnerConfig(batch_size=4, buffer_size=16))
    train_and_save(cfg, tmp_path / "run", show_progress=False)
    curve = pd.read_csv(tmp_path / "run" / "train_curve.csv")
    events = EventAccumulator(str(tmp_path / "run" / TENSORBOARD_DIR))
    events.Reload()
    got = events.Scalars("curve/eval_win_rate")
    assert [e.step for e in got] == curve.t_env.tolist()
    assert [e.value for e in got] == pytest.approx(curve.eval_win_rate.tolist())


def test_a_vector_statistic_gets_one_interval_per_entry_from_the_same_replicates():
    x = np.array([[0.1, 0.5, 0.9], [0.3, 0.5, 0.7], [0.2, 0.6, 0.8]])
    taus = np.array([0.0, 0.4, 0.55, 1.0])
    low, high = stratified_bootstrap_ci(x, lambda s: robustness_profile(s, taus), reps=300, seed=2)
    for k, t in enumerate(taus):  # the same seed draws the same replicates: each entry's scalar interval
        assert (low[k], high[k]) == pytest.approx(stratified_bootstrap_ci(
            x, lambda s, t=t: float(robustness_profile(s, [t])[0]), reps=300, seed=2))
    assert low[0] == high[0] == 1.0 and low[-1] == high[-1] == 0.0


def test_variants_of_one_defense_share_its_hue_and_take_the_next_style():
    from robench.figures import DASHES, defense_colour, variant_styles

    fgsm = [f"fgsm[attack_prob={p}]" for p in range(9)]
    rows = ["noadv", "fgsm", "fgsm[attack=pgd]", "rn", "fgsm[attack=fgsm-support]"] + fgsm
    styles = variant_styles(rows)
    assert [styles[r][1] for r in rows[:5]] == [DASHES[0], DASHES[0], DASHES[1], DASHES[0], DASHES[2]]
    assert styles["fgsm"][0] == defense_colour("fgsm") != defense_colour("rn")
    of_fgsm = [styles[r] for r in rows if r.startswith("fgsm")]
    assert len(set(of_fgsm)) == len(of_fgsm) == 12  # twelve variants, twelve styles
    colour = np.array(matplotlib.colors.to_rgb(defense_colour("fgsm")))
    darker, lighter = np.array(of_fgsm[4][0]), np.array(of_fgsm[8][0])
    assert (darker <= colour).all() and (lighter >= colour).all()  # the same hue, darker then lighter
    assert np.allclose(darker / darker.max(), colour / colour.max())


def test_worst_case_table_keeps_stronger_attacks_out_of_table1_and_finds_the_strongest():
    from robench.worst_case import render_worst_case, stronger, worst_case_table

    table = _cells({("paad", s, a): v for s in (0, 1) for a, v in (("none", 0.8), ("fgsm", 0.5), ("atsa", 0.4 + 0.1 * s))})
    extra = _cells({("paad", s, a): v for s in (0, 1) for a, v in (("pgd-r", 0.3), ("atsa", 0.1))})
    extra["retrain"] = [None if a == "pgd-r" else {"attack": a} for a in extra.attack]
    table["retrain"] = None
    assert not stronger(table).any() and stronger(extra).all()  # pgd-r by its class, the fresh ATSA by its retrain
    row = worst_case_table(table, extra).iloc[0]
    assert row.table1_worst == pytest.approx(0.45) and row.table1_worst_column == "atsa"  # the ATSA column's seed mean
    assert row["pgd-r"] == pytest.approx(0.3) and row["atsa+fresh"] == pytest.approx(0.1)
    assert row.worst == pytest.approx(0.1) and row.worst_column == "atsa+fresh" and row.n_seeds == 2
    md = render_worst_case(worst_case_table(table, extra), {"3m": 0.25})
    assert "| 3m | VDN | PAAD | 2 | 0.80 | 0.45 (ATSA) | 0.30 | 0.10 | 0.10 (ATSA (fresh)) |" in md
