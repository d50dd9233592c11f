import json

import pytest
import torch

from robench.checkpoint import CheckpointError, load_protagonist, protagonist_tensors, save_checkpoint
from robench.envs import EnvInfo
from robench.learners.agent import RNNAgent
from robench.learners.mixers import QMixer

INFO = EnvInfo(n_agents=3, obs_dim=6, state_dim=4, n_actions=5, episode_limit=10, map_name="3m", backend="smax")


def _save(tmp_path, name="ck"):
    torch.manual_seed(0)
    agent, mixer = RNNAgent(6, 3, 5, hidden=64), QMixer(3, 4)
    manifest = {"kind": "protagonist", "env": INFO.__dict__, "learner": "qmix", "defense": "noadv",
                "config": {"learner": {"hidden": 64}}}
    out = tmp_path / name
    save_checkpoint(out, protagonist_tensors(agent, mixer), manifest)
    return out, agent, mixer


def test_round_trip_is_exact(tmp_path):
    out, agent, mixer = _save(tmp_path)
    agent2, mixer2, manifest = load_protagonist(out)
    for a, b in ((agent, agent2), (mixer, mixer2)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert manifest["learner"] == "qmix" and len(manifest["content_hash"]) == 64
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary left behind


def test_flipped_byte_is_refused(tmp_path):
    out, _, _ = _save(tmp_path)
    blob = bytearray((out / "model.safetensors").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (out / "model.safetensors").write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="content hash mismatch"):
        load_protagonist(out)


def test_truncated_file_is_refused(tmp_path):
    out, _, _ = _save(tmp_path)
    data = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(data[:100])
    with pytest.raises(CheckpointError):
        load_protagonist(out)


def test_missing_and_garbled_manifest(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        load_protagonist(tmp_path / "nothing")
    out, _, _ = _save(tmp_path)
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt manifest"):
        load_protagonist(out)


def test_shape_mismatch_is_refused(tmp_path):
    out, _, _ = _save(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["env"]["obs_dim"] = 7  # claims a different environment than the weights
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="shape"):
        load_protagonist(out)


def test_env_mismatch_is_refused(tmp_path):
    out, _, _ = _save(tmp_path)
    other = EnvInfo(**{**INFO.__dict__, "map_name": "8m", "n_agents": 8})
    with pytest.raises(CheckpointError, match="does not\\s+match|do not match"):
        load_protagonist(out, expect_env=other)


def test_warm_start_across_maps_needs_same_backend_and_sizes(tmp_path):
    """``any_map`` (``train --init-from``) accepts another map with the same sizes and backend only."""
    out, _, _ = _save(tmp_path)
    same_sizes = EnvInfo(**{**INFO.__dict__, "map_name": "3m_variant"})
    with pytest.raises(CheckpointError, match="do not match"):
        load_protagonist(out, expect_env=same_sizes)
    assert load_protagonist(out, expect_env=same_sizes, any_map=True)[2]["env"]["map_name"] == "3m"
    for changed in ({"n_agents": 8}, {"backend": "sc2"}, {"episode_limit": 20}):
        with pytest.raises(CheckpointError, match="do not match"):
            load_protagonist(out, expect_env=EnvInfo(**{**same_sizes.__dict__, **changed}), any_map=True)


def test_existing_directory_is_not_overwritten(tmp_path):
    out, _, _ = _save(tmp_path)
    with pytest.raises(CheckpointError, match="already exists"):
        _save(tmp_path)


def test_mlp_agent_round_trip(tmp_path):
    from robench.learners.agent import MLPAgent

    torch.manual_seed(0)
    agent, mixer = MLPAgent(6, 3, 5, hidden=32), QMixer(3, 4)
    manifest = {"kind": "protagonist", "env": INFO.__dict__, "learner": "qmix", "defense": "noadv",
                "config": {"learner": {"hidden": 32, "agent": "mlp"}}}
    save_checkpoint(tmp_path / "mlp", protagonist_tensors(agent, mixer), manifest)
    agent2, _, _ = load_protagonist(tmp_path / "mlp")
    assert isinstance(agent2, MLPAgent)
    assert all(torch.equal(v, agent2.state_dict()[k]) for k, v in agent.state_dict().items())
    manifest["config"]["learner"]["agent"] = "rnn"  # the wrong architecture is refused, not half-loaded
    save_checkpoint(tmp_path / "wrong", protagonist_tensors(agent, mixer), manifest)
    with pytest.raises(CheckpointError):
        load_protagonist(tmp_path / "wrong")


def test_the_typed_manifest_view_validates_once_and_states_each_fallback():
    from robench.errors import RobenchError
    from robench.manifest import Manifest

    with pytest.raises(RobenchError, match="manifest lacks kind, content_hash, env, learner"):
        Manifest({})
    base = {"kind": "protagonist", "content_hash": "ab", "env": {"map_name": "3m"}, "learner": "qmix"}
    with pytest.raises(RobenchError, match="unknown kind 'policy'"):
        Manifest({**base, "kind": "policy"})
    with pytest.raises(RobenchError, match="env lacks map_name"):
        Manifest({**base, "env": {}})
    old = Manifest({**base, "wall_time_s": 12.0})
    assert old.backend == "smax" and old.lineage_wall_time_s == 12.0 and old.victim_learner == "qmix"
    assert old.learner_config.mixer == "qmix" and old.co_trained_variant == {}
    adv = Manifest({**base, "kind": "adversary", "learner": "fop", "victim_learner": "vdn", "attack": "atsa"})
    assert not adv.is_protagonist and adv.victim_learner == "vdn" and adv.attack == "atsa"


def test_every_committed_manifest_reads_as_a_typed_manifest():
    from robench.checkpoint import checkpoint_dirs, read_manifest
    from robench.manifest import Manifest

    from pathlib import Path

    typed = [Manifest(read_manifest(d)) for d in checkpoint_dirs(Path(__file__).resolve().parents[1] / "checkpoints")]
    assert len(typed) > 20 and {m.kind for m in typed} == {"protagonist", "adversary"}
