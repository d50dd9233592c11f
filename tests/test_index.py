"""The zoo index: rebuilt from manifests, stale detection, and the repository's own zoo is indexed."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robench.checkpoint import protagonist_tensors, save_checkpoint
from robench.envs import EnvInfo
from robench.errors import RobenchError
from robench.index import INDEX, build_index, stale_entries, write_index
from robench.learners.agent import RNNAgent
from robench.learners.mixers import QMixer

ROBENCH = str(Path(sys.executable).parent / "robench")
REPO = Path(__file__).resolve().parent.parent
INFO = EnvInfo(n_agents=3, obs_dim=6, state_dim=4, n_actions=5, episode_limit=10, map_name="3m", backend="smax")


def _save(zoo: Path, name: str) -> Path:
    manifest = {"kind": "protagonist", "env": INFO.__dict__, "learner": "qmix", "defense": "noadv",
                "config": {"learner": {"hidden": 64}}}
    save_checkpoint(zoo / name, protagonist_tensors(RNNAgent(6, 3, 5), QMixer(3, 4)), manifest)
    return zoo / name


def test_index_lists_every_checkpoint_and_detects_staleness(tmp_path):
    zoo = tmp_path / "zoo"
    _save(zoo, "3m/a")
    path, n = write_index(zoo)
    assert n == 1 and path == zoo / INDEX and not list(zoo.glob(f".{INDEX}.*"))
    row = json.loads(path.read_text())["checkpoints"][0]
    assert row["path"] == "3m/a" and row["kind"] == "protagonist" and row["learner"] == "qmix"
    assert row["map"] == "3m" and row["defense"] == "noadv" and len(row["content_hash"]) == 64
    assert stale_entries(zoo) == []
    _save(zoo, "3m/b")  # a new checkpoint the index does not know
    shutil.rmtree(zoo / "3m" / "a")  # and one that is gone
    assert stale_entries(zoo) == ["3m/a", "3m/b"]
    res = subprocess.run([ROBENCH, "index", "--zoo", str(zoo), "--check"], capture_output=True, text=True)
    assert res.returncode == 1 and "stale for 2 checkpoint(s)" in res.stderr
    res = subprocess.run([ROBENCH, "index", "--zoo", str(zoo)], capture_output=True, text=True)
    assert res.returncode == 0 and "(1 checkpoints)" in res.stdout and stale_entries(zoo) == []


def test_corrupt_manifest_or_index_is_one_error(tmp_path):
    zoo = tmp_path / "zoo"
    out = _save(zoo, "ck")
    (zoo / INDEX).write_text("{not json")
    with pytest.raises(RobenchError, match="corrupt zoo index"):
        stale_entries(zoo)
    (out / "manifest.json").write_text("{}")
    with pytest.raises(RobenchError, match="lacks"):
        build_index(zoo)


def test_committed_zoo_index_is_up_to_date():
    assert stale_entries(REPO / "checkpoints") == [], "run `robench index` and commit checkpoints/index.json"


def test_index_rows_carry_their_protocol_and_whether_they_are_the_zoos_entry():
    """Of the six FGSM VDN seed-0 runs on 3m only the zoo's entry says so; experiments with another
    attacked share, budget or attack are not entries, and each row names its protocol."""
    rows = {row["path"]: row for row in json.loads((REPO / "checkpoints" / "index.json").read_text())["checkpoints"]}
    entry = rows["3m/vdn_fgsm_s0"]
    assert entry["zoo_entry"] is True
    assert entry["protocol"] == {"obs_layout": "smac", "bounds": "none", "steps": 2000000,
                                 "regime": {"attack_prob": 0.5, "attack_unit": "episode", "eps_draw": "fixed",
                                            "eps_warmup": 0.0, "replay": "perturbed"}}
    for experiment in ("3m/vdn_fgsm_p025_s0", "3m/vdn_fgsm_p1_s0", "3m/vdn_fgsm_p025_4m_s0", "3m/vdn_fgsm_pgd_s0"):
        assert rows[experiment]["zoo_entry"] is False, experiment
    assert rows["3m/vdn_fgsm_p1_s0"]["protocol"]["regime"]["attack_prob"] == 1.0
