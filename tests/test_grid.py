"""Grid: planning, content addressing, resume after SIGKILL, concurrent runs on one store, report."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from robench.checkpoint import protagonist_tensors, save_checkpoint
from robench.envs import make_env
from robench.grid import GridSpec, plan, run_grid
from robench.learners.agent import RNNAgent, make_agent
from robench.learners.mixers import make_mixer
from robench.store import ResultStore, load_cells, load_episodes
from robench.threat import ThreatModel

ROBENCH = str(Path(sys.executable).parent / "robench")


def make_zoo(root: Path, n: int = 2, learner: str = "vdn") -> Path:
    info = make_env("3m", 1).info()
    for seed in range(n):
        torch.manual_seed(seed)
        agent = RNNAgent(info.obs_dim, info.n_agents, info.n_actions)
        mixer = make_mixer(learner, info.n_agents, info.state_dim)
        manifest = {"kind": "protagonist", "env": info.__dict__, "learner": learner, "defense": ["noadv", "rn"][seed % 2],
                    "seed": seed, "config": {"learner": {"hidden": 64}}}
        save_checkpoint(root / f"{learner}_{seed}", protagonist_tensors(agent, mixer), manifest)
    return root


def test_plan_is_deterministic_and_content_addressed(tmp_path):
    zoo = make_zoo(tmp_path / "zoo")
    spec = GridSpec(eps=[0.05, 0.25], checkpoints=zoo, results=tmp_path / "res", episodes=8)
    cells, _ = plan(spec)
    # 2 checkpoints × (none once + random, fgsm at 2 ε)
    assert len(cells) == 2 * (1 + 2 * 2)
    assert [c.cid for c in cells] == [c.cid for c in plan(spec)[0]]
    assert len({c.cid for c in cells}) == len(cells)
    assert plan(GridSpec(eps=[0.05], checkpoints=zoo, defenses=["rn"], episodes=8))[0][0].meta["defense"] == "rn"


def test_finished_cells_are_not_recomputed_and_records_load(tmp_path):
    zoo = make_zoo(tmp_path / "zoo", n=1)
    spec = GridSpec(eps=[0.1], attacks=["none", "fgsm"], checkpoints=zoo, results=tmp_path / "res", episodes=6)
    first = run_grid(spec)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "res" / "cells").iterdir()}
    second = run_grid(spec)
    assert sorted(m["cell_id"] for m in first) == sorted(m["cell_id"] for m in second)
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "res" / "cells").iterdir()}
    cells, eps = load_cells(tmp_path / "res"), load_episodes(tmp_path / "res")
    assert len(cells) == 2 and len(eps) == 12
    assert set(eps.columns) >= {"episode", "won", "return", "crashed", "length", "attack", "eps", "defense"}
    for _, c in cells.iterrows():
        assert c.win_rate == pytest.approx(eps[eps.cell_id == c.cell_id].won.mean())


def _grid_cmd(zoo, res, jobs=1):
    return [ROBENCH, "grid", "--envs", "3m", "--defenses", "all", "--eps", "0.05,0.25", "--episodes", "40",
            "--checkpoints", str(zoo), "--results", str(res), "--jobs", str(jobs), "--quiet"]


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    zoo = make_zoo(tmp_path / "zoo")
    env = dict(os.environ, ROBENCH_TORCH_THREADS="1")
    ref = subprocess.run(_grid_cmd(zoo, tmp_path / "ref"), env=env, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen(_grid_cmd(zoo, tmp_path / "res"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    cells_dir = tmp_path / "res" / "cells"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(cells_dir.glob("*.json")) if cells_dir.exists() else []) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(list(cells_dir.glob("*.json")))
    assert 0 < partial < 10
    again = subprocess.run(_grid_cmd(zoo, tmp_path / "res"), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    a = load_cells(tmp_path / "ref").drop(columns=["wall_s", "checkpoint"]).sort_values("cell_id").reset_index(drop=True)
    b = load_cells(tmp_path / "res").drop(columns=["wall_s", "checkpoint"]).sort_values("cell_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert not [p for p in cells_dir.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_two_grids_on_one_store(tmp_path):
    zoo = make_zoo(tmp_path / "zoo")
    env = dict(os.environ, ROBENCH_TORCH_THREADS="1")
    procs = [subprocess.Popen(_grid_cmd(zoo, tmp_path / "res"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    assert all(p.wait(timeout=600) == 0 for p in procs)
    cells = load_cells(tmp_path / "res")
    assert len(cells) == 10 + 1 and cells.cell_id.is_unique  # 2 × (none + 2 attacks × 2 ε) + the mask-only row
    assert (cells.defense == "mask-only").sum() == 1
    for path in (tmp_path / "res" / "cells").glob("*.json"):
        json.loads(path.read_text())


def test_report_table_and_figures(tmp_path):
    zoo = make_zoo(tmp_path / "zoo")
    run_grid(GridSpec(eps=[0.05, 0.25], checkpoints=zoo, results=tmp_path / "res", episodes=10))
    res = subprocess.run([ROBENCH, "report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep"),
                          "--checkpoints", str(zoo)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    tex = (tmp_path / "rep" / "table1_win_rate.tex").read_text()
    assert tex.count(r"\begin{tabular}") == 1 and r"\toprule" in tex and r"\bottomrule" in tex
    assert (tmp_path / "rep" / "figures" / "eps_sweep_3m_vdn.png").stat().st_size > 1000
    # AVG = mean ± population std of the attack cells of the row (at the table ε = 0.25)
    cells = load_cells(tmp_path / "res")
    for defense in ("noadv", "rn"):
        row = cells[(cells.defense == defense) & ((cells.attack == "none") | (cells.eps == 0.25))]
        vals = row.set_index("attack").win_rate.loc[["none", "random", "fgsm"]].to_numpy()
        assert f"{vals.mean():.2f}$\\pm${vals.std(ddof=0):.2f}" in tex


def test_learned_column_without_adversary_is_reported_missing(tmp_path):
    zoo = make_zoo(tmp_path / "zoo")
    cells, missing = plan(GridSpec(eps=[0.25], attacks=["none", "paad"], checkpoints=zoo, episodes=8))
    assert len(cells) == 2 and {c.meta["attack"] for c in cells} == {"none"}
    assert len(missing) == 2 and {m["attack"] for m in missing} == {"paad"}


def test_dask_backend_gives_the_loky_numbers(tmp_path):
    pytest.importorskip("distributed")
    from dask.distributed import Client, LocalCluster

    zoo = make_zoo(tmp_path / "zoo", n=1)
    common = dict(eps=[0.25], attacks=["none", "fgsm"], checkpoints=zoo, episodes=12)
    loky = run_grid(GridSpec(**common, results=tmp_path / "loky", jobs=1))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        dask = run_grid(GridSpec(**common, results=tmp_path / "dask", jobs=2, backend="dask"))
    key = lambda m: m["cell_id"]  # noqa: E731
    strip = lambda m: {k: v for k, v in m.items() if k not in ("wall_s", "checkpoint")}  # noqa: E731
    assert [strip(m) for m in sorted(loky, key=key)] == [strip(m) for m in sorted(dask, key=key)]


def test_report_from_csv_reproduces_the_papers_avg_column(tmp_path):
    """Paper Table 1, 3m VDN rows: AVG must come out as printed (mean ± population std)."""
    rows = {"noadv": [0.99, 0.23, 0.00, 0.02, 0.00, 0.00], "rn": [1.00, 0.99, 0.01, 0.94, 0.01, 0.01],
            "fgsm": [0.96, 0.96, 0.91, 0.96, 0.79, 0.57]}
    attacks = ["none", "random", "fgsm", "atla", "paad", "atsa"]
    lines = ["env,learner,defense,attack,win_rate"] + [f"3m,vdn,{d},{a},{v}" for d, vals in rows.items()
                                                      for a, v in zip(attacks, vals)]
    (tmp_path / "cells.csv").write_text("\n".join(lines) + "\n")
    res = subprocess.run([ROBENCH, "report", "--from-csv", str(tmp_path / "cells.csv"), "--out", str(tmp_path / "rep"),
                          "--reference", "fgsm"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    tex = (tmp_path / "rep" / "table1_win_rate.tex").read_text()
    for avg in (r"0.21$\pm$0.36", r"0.49$\pm$0.48", r"\textbf{0.86$\pm$0.14}"):
        assert avg in tex
    body = [ln for ln in tex.splitlines() if r"$\pm$" in ln and "caption" not in ln]
    assert len(body) == 3
    # one bold entry per column, except ties: ATLA 0.94 < 0.96 (two FGSM-row 0.96 are in other columns)
    assert sum(r"\textbf" in ln.split(" & ")[5] for ln in body) == 1
    assert "test unit: attack" in tex
    bad = subprocess.run([ROBENCH, "report", "--from-csv", str(tmp_path / "nope.csv")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_retrained_adversary_is_trained_once_per_row_and_recorded(tmp_path):
    zoo = make_zoo(tmp_path / "zoo", n=1)
    spec = GridSpec(eps=[0.05, 0.25], attacks=["paad"], checkpoints=zoo, results=tmp_path / "res", episodes=4,
                    retrain_adversaries=True, retrain_steps=200, threat=ThreatModel(bounds="features"))
    cells, missing = plan(spec)
    assert len(cells) == 2 and not missing
    metas = run_grid(spec)
    adversaries = list((tmp_path / "res" / "adversaries").glob("*/manifest.json"))
    assert len(adversaries) == 1  # one adversary serves both ε cells of the row
    assert {m["adversary"] for m in metas} == {str(adversaries[0].parent)}
    recorded = json.loads(adversaries[0].read_text())
    assert recorded["victim"] == cells[0].meta["checkpoint_hash"]
    assert recorded["threat"]["bounds"] == "features" and recorded["threat"]["eps"] == 0.25  # the grid's threat model
    run_grid(GridSpec(eps=[0.25], attacks=["none", "fgsm"], checkpoints=zoo, results=tmp_path / "res", episodes=4,
                      threat=ThreatModel(bounds="features")))
    from robench.report import write_report

    write_report(tmp_path / "res", tmp_path / "rep")
    worst = (tmp_path / "rep" / "worst_case.md").read_text()
    assert "PAAD (fresh)" in worst and "PAAD (fresh)" not in (tmp_path / "rep" / "table1_win_rate.md").read_text()


def test_defense_variants_stay_apart_and_get_an_ablation_figure(tmp_path):
    """Rows of one defense trained with different κ (and one with the MLP agent): separate table
    rows; one κ-ablation figure over the GRU rows, none mixing in the MLP row."""
    info = make_env("3m", 1).info()
    zoo = tmp_path / "zoo"
    for seed, (kappa, agent) in enumerate(((0.0, "rnn"), (0.005, "rnn"), (0.005, "mlp"))):
        torch.manual_seed(seed)
        manifest = {"kind": "protagonist", "env": info.__dict__, "learner": "vdn", "defense": "atsa", "seed": 0,
                    "config": {"learner": {"hidden": 64, "agent": agent}, "defense_options": {"kappa": kappa}}}
        tensors = protagonist_tensors(make_agent(agent, info.obs_dim, info.n_agents, info.n_actions),
                                      make_mixer("vdn", info.n_agents, info.state_dim))
        save_checkpoint(zoo / f"atsa_k{seed}", tensors, manifest)
    run_grid(GridSpec(eps=[0.25], attacks=["none", "random"], checkpoints=zoo, results=tmp_path / "res", episodes=4))
    cells = load_cells(tmp_path / "res")
    assert sorted(cells.variant.unique()) == ["agent=mlp,kappa=0.005", "kappa=0", "kappa=0.005"]
    by_variant = {row.variant: row.settings for row in cells.itertuples() if row.defense == "atsa"}
    assert by_variant["agent=mlp,kappa=0.005"] == {"defense": {"kappa": 0.005}, "learner": {"agent": "mlp"}}
    assert by_variant["kappa=0"] == {"defense": {"kappa": 0.0}, "learner": {}}
    # a store written before cells recorded their settings gains them from the plan, unevaluated
    store = ResultStore(tmp_path / "res")
    cid = cells.cell_id.iloc[0]
    stale = {k: v for k, v in store.read_meta(cid).items() if k != "settings"}
    (tmp_path / "res" / "cells" / f"{cid}.json").write_text(json.dumps(stale))
    walls = {m["cell_id"]: m["wall_s"] for m in run_grid(GridSpec(eps=[0.25], attacks=["none", "random"], checkpoints=zoo,
                                                                  results=tmp_path / "res", episodes=4))}
    assert store.read_meta(cid)["settings"] == cells.settings.iloc[0] and walls[cid] == stale["wall_s"]
    res = subprocess.run([ROBENCH, "report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    md = (tmp_path / "rep" / "table1_win_rate.md").read_text()
    assert "ATSA [kappa=0]" in md and "ATSA [kappa=0.005]" in md and "ATSA [agent=mlp,kappa=0.005]" in md
    assert (tmp_path / "rep" / "figures" / "ablation_kappa_3m_vdn_atsa.png").stat().st_size > 1000
    assert not list((tmp_path / "rep" / "figures").glob("ablation_*mlp*"))  # one κ level only: no figure


def test_train_rejects_undeclared_defense_options_in_one_line():
    res = subprocess.run([ROBENCH, "train", "--defense", "rn", "--defense-opt", "kappa=0.1", "--steps", "10"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "robench: error: defense 'rn' has no option kappa; its options: none"]


def test_attacked_subset_cells_are_separate_columns(tmp_path):
    """--attacked-agents: new cells (the all-agent ones keep their ids), their own table column."""
    zoo = make_zoo(tmp_path / "zoo", n=1)
    common = dict(eps=[0.25], attacks=["none", "fgsm"], checkpoints=zoo, results=tmp_path / "res", episodes=6)
    everyone = {m["cell_id"] for m in run_grid(GridSpec(**common))}
    subset = run_grid(GridSpec(**common, threat=ThreatModel(attacked_agents=(0,))))
    fgsm_m = [m for m in subset if m["attack"] == "fgsm"][0]
    assert fgsm_m["attacked_agents"] == [0] and fgsm_m["cell_id"] not in everyone
    assert {m["cell_id"] for m in subset if m["attack"] == "none"} <= everyone
    cells = load_cells(tmp_path / "res")
    assert len(cells) == 3
    res = subprocess.run([ROBENCH, "report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    header = (tmp_path / "rep" / "table1_win_rate.md").read_text().splitlines()[0]
    assert "VDN FGSM |" in header and "VDN FGSM [M=0] |" in header


def test_temporaries_of_a_killed_writer_are_removed_on_rewrite(tmp_path):
    from robench.store import EPISODE_COLUMNS, ResultStore

    store = ResultStore(tmp_path / "res")
    orphan = store.root / "cells" / ".abc.json.x1y2"  # what a SIGKILL between mkstemp and rename leaves
    orphan.write_text("{half")
    other = store.root / "cells" / ".zzz.json.q"  # another cell's temporary: not ours to touch
    other.write_text("{")
    with store.lock("abc"):
        store.write("abc", {"x": 1}, pd.DataFrame({c: [0] for c in EPISODE_COLUMNS}))
    assert store.done("abc") and not orphan.exists() and other.exists()


def test_variant_names_non_default_learner_settings_only():
    from robench.manifest import Manifest
    from robench.rows import variant_of

    def manifest(config):
        return Manifest({"kind": "protagonist", "content_hash": "h", "env": {"map_name": "3m"}, "learner": "qmix",
                         "config": config})

    learner = {"mixer": "qmix", "agent": "mlp", "optimizer": "adam", "lr": 0.001, "hidden": 64, "double_q": False}
    assert variant_of(manifest({"learner": learner, "defense_options": {"kappa": 0.01}})) == \
        "agent=mlp,double_q=False,kappa=0.01,lr=0.001,optimizer=adam"
    assert variant_of(manifest({"learner": {"mixer": "vdn", "hidden": 64, "retired_option": 1}})) == ""


def test_learned_columns_use_the_adversary_co_trained_by_that_defense(tmp_path):
    """The ATSA column of (map, learner) is served by the adversary ATSA training produced there —
    before one trained against a fixed victim, before an ablation run's, and never by a killed
    writer's hidden temporary."""
    from robench.grid import adversary_candidates

    info = make_env("3m", 1).info()
    zoo = tmp_path / "zoo"

    def adversary(path, **extra):
        manifest = {"kind": "adversary", "attack": "atsa", "env": info.__dict__, "learner": "fop",
                    "victim_learner": "vdn", "seed": 0, **extra}
        save_checkpoint(path, {"w": torch.zeros(1)}, manifest)

    adversary(zoo / "3m" / "adv_atsa_vs_vdn")  # against a fixed victim (sorts first by path)
    adversary(zoo / "3m" / "vdn_atsa_s0" / "adv_atsa", co_trained_by="atsa", co_trained_variant={})
    adversary(zoo / "3m" / "vdn_atsa_k0_s0" / "adv_atsa", co_trained_by="atsa", co_trained_variant={"kappa": 0.0})
    adversary(zoo / "3m" / "vdn_atla_s0" / "adv_atsa", co_trained_by="atla")
    adversary(zoo / "3m" / ".vdn_atsa_s1.tmp-x" / "adv_atsa", co_trained_by="atsa", co_trained_variant={})
    found = [p.relative_to(zoo).as_posix() for p, _ in adversary_candidates(zoo)[("3m", "vdn", "atsa", info.obs_layout)]]
    assert found == ["3m/vdn_atsa_s0/adv_atsa", "3m/vdn_atsa_k0_s0/adv_atsa", "3m/adv_atsa_vs_vdn",
                     "3m/vdn_atla_s0/adv_atsa"]
    smac = make_env("3m", 1, obs_layout="smac").info()  # an adversary of the other layout serves its own victims only
    save_checkpoint(zoo / "3m" / "vdn_atsa_smac_s0" / "adv_atsa",
                    {"w": torch.zeros(1)}, {"kind": "adversary", "attack": "atsa", "env": smac.__dict__, "learner": "fop",
                                            "victim_learner": "vdn", "seed": 0, "co_trained_by": "atsa"})
    candidates = adversary_candidates(zoo)
    assert [p.name for p, _ in candidates[("3m", "vdn", "atsa", "smac")]] == ["adv_atsa"]
    assert len(candidates[("3m", "vdn", "atsa", info.obs_layout)]) == 4


def test_report_leaves_out_cells_of_a_replaced_checkpoint(tmp_path):
    """A zoo entry retrained in place (new content hash at the same path) must not share its row
    with the cells of the run it replaced."""
    from robench.report import current_cells

    zoo = make_zoo(tmp_path / "zoo", n=1)
    spec = GridSpec(eps=[0.25], attacks=["none"], checkpoints=zoo, results=tmp_path / "res", episodes=4)
    run_grid(spec)
    old = load_cells(tmp_path / "res").checkpoint_hash.unique().tolist()
    entry = zoo / "vdn_0"
    info = make_env("3m", 1).info()
    torch.manual_seed(123)
    agent = RNNAgent(info.obs_dim, info.n_agents, info.n_actions)
    manifest = json.loads((entry / "manifest.json").read_text())
    save_checkpoint(entry, protagonist_tensors(agent, make_mixer("vdn", info.n_agents, info.state_dim)),
                    {k: v for k, v in manifest.items() if k not in ("content_hash", "weights", "format")}, overwrite=True)
    run_grid(spec)
    cells = load_cells(tmp_path / "res")
    assert len(cells) == 2 and len(old) == 1
    kept = current_cells(cells)
    assert len(kept) == 1 and kept.checkpoint_hash.iloc[0] != old[0]


def test_report_leaves_out_cells_of_a_replaced_adversary(tmp_path):
    """A co-trained adversary replaced in place (its run retrained) must not share a learned column
    with the cells it served before; cells without an adversary, or whose adversary is gone, stay."""
    from robench.report import current_cells

    zoo = make_zoo(tmp_path / "zoo", n=1)
    protagonist = zoo / "vdn_0"
    live = json.loads((protagonist / "manifest.json").read_text())["content_hash"]
    cells = pd.DataFrame({
        "checkpoint": [str(protagonist)] * 4, "checkpoint_hash": [live] * 4,
        "adversary": [str(protagonist), str(protagonist), None, str(tmp_path / "gone")],
        "adversary_hash": [live, "0" * 64, None, "1" * 64],
    })
    kept = current_cells(cells)
    assert kept.index.tolist() == [0, 2, 3]


def test_mask_only_reference_row_spans_every_attack_column(tmp_path):
    from robench.report import write_report

    zoo = make_zoo(tmp_path / "zoo", n=1)
    spec = GridSpec(eps=[0.25], attacks=["none", "random"], checkpoints=zoo, results=tmp_path / "res", episodes=8,
                    reference_rows=True)
    cells, _ = plan(spec)
    assert [c.meta["defense"] for c in cells].count("mask-only") == 1
    run_grid(spec)
    ref = load_cells(tmp_path / "res").query("defense == 'mask-only'").win_rate.item()
    write_report(tmp_path / "res", tmp_path / "rep")
    md = (tmp_path / "rep" / "table1_win_rate.md").read_text()
    row = next(line for line in md.splitlines() if "Mask-only" in line)
    assert row.count(f"{ref:.2f}") >= 3  # Natural, Random and the AVG's mean


def test_report_refuses_to_mix_two_threat_models(tmp_path):
    from robench.errors import RobenchError
    from robench.report import write_report

    zoo = make_zoo(tmp_path / "zoo", n=1)
    for bounds in ("none", "features"):
        run_grid(GridSpec(eps=[0.25], attacks=["none", "random"], checkpoints=zoo, results=tmp_path / "res",
                          episodes=8, threat=ThreatModel(bounds=bounds)))
    metas = load_cells(tmp_path / "res")
    assert sorted(metas[metas.attack == "random"].bounds) == ["features", "none"]
    with pytest.raises(RobenchError, match="never mixes two"):
        write_report(tmp_path / "res", tmp_path / "rep")
    write_report(tmp_path / "res", tmp_path / "rep", bounds="features")
    assert "bounds=features" in (tmp_path / "rep" / "table1_win_rate.md").read_text()


def test_rows_of_two_protocols_never_share_a_row():
    from robench.rows import current_protocol
    from robench.report import split_protocols

    old = ["obs=unit_list,steps=3000000,bounds=features", "obs=unit_list,steps=1000000,bounds=none"]
    df = pd.DataFrame({"env": ["3m"] * 4, "learner": ["vdn"] * 4, "defense": ["fgsm", "fgsm", "fgsm", "mask-only"],
                       "variant": [""] * 4, "backend": ["smax"] * 4,
                       "protocol": [current_protocol("fgsm")] + old + ["scripted"]})
    now, rest = split_protocols(df)
    assert list(now.defense) == ["fgsm", "mask-only"]
    earlier = rest[rest.defense == "fgsm"]
    assert sorted(earlier.variant) == sorted(old)  # two earlier trainings: rows of their own
    assert "mask-only" in set(rest.defense)  # the reference row of the other table too
    alone = df.assign(variant=["", "hidden=256", "", ""])  # one earlier training of its variant
    _, rest = split_protocols(alone)
    assert sorted(rest[rest.defense == "fgsm"].variant) == ["", "hidden=256"]  # no clash: labels kept
    _, rest = split_protocols(alone, every_row=True)  # beside today's rows: each says its protocol
    assert sorted(rest[rest.defense == "fgsm"].variant) == sorted([f"hidden=256,{old[0]}", old[1]])


def test_a_learned_column_prefers_adversaries_co_trained_at_the_defenses_default_share(tmp_path):
    """ATSA's every-step rows (p = 1) sit beside its protocol rows (p = 0.5): the ATSA column is
    served by the protocol row's adversary, whatever the directory names' order."""
    from robench.grid import at_default_share

    zoo = Path(__file__).resolve().parents[1] / "checkpoints" / "3m"
    assert at_default_share(zoo / "vdn_fgsm_s0", "fgsm")
    assert not at_default_share(zoo / "vdn_fgsm_p1_s0", "fgsm")
    assert at_default_share(tmp_path, "atsa")  # a stand-alone adversary: no protagonist around it


def test_cells_record_checkpoints_relative_to_the_working_directory(tmp_path, monkeypatch):
    zoo = make_zoo(tmp_path / "zoo", n=1)
    monkeypatch.chdir(tmp_path)
    cells, _ = plan(GridSpec(eps=[0.25], attacks=["fgsm"], checkpoints=zoo.resolve(), results=tmp_path / "res"))
    assert {c.checkpoint for c in cells if not c.checkpoint.startswith("scripted:")} == {"zoo/vdn_0"}
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # a zoo outside the working directory keeps the path it was given
    cells, _ = plan(GridSpec(eps=[0.25], attacks=["fgsm"], checkpoints=tmp_path / "zoo", results=tmp_path / "res"))
    assert all(c.checkpoint.startswith(str(tmp_path / "zoo")) for c in cells if not c.checkpoint.startswith("scripted:"))
