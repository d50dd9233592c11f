"""``robench import pymarl``: PyMARL's RNNAgent / QMixer state dicts (built here with PyMARL's key
names and shapes on SMAC's 3m sizes) become robench checkpoints whose Q-values equal a
hand-written PyMARL forward pass (GRUCell), with SMAC's action order mapped onto SMAX's."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robench.checkpoint import load_protagonist
from robench.envs.smac_layout import smac_action_order
from robench.pymarl_import import PymarlImportError, mixer_from_pymarl, read_state_dict

ROBENCH = str(Path(sys.executable).parent / "robench")
OBS, N, A_SMAC, H, STATE_SMAC = 30, 3, 9, 64, 48
"""SMAC 3m: observation 30, 3 agents, 9 actions (6 + 3 enemies), PyMARL's hidden 64, state 48."""


class PymarlAgent(nn.Module):
    """PyMARL's ``RNNAgent`` as its source writes it: fc1 → ReLU → GRUCell → fc2."""

    def __init__(self, inputs: int):
        super().__init__()
        self.fc1 = nn.Linear(inputs, H)
        self.rnn = nn.GRUCell(H, H)
        self.fc2 = nn.Linear(H, A_SMAC)

    def forward(self, inputs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.rnn(F.relu(self.fc1(inputs)), h)
        return self.fc2(h), h


class EpymarlFeedForwardAgent(nn.Module):
    """EPyMARL's ``RNNAgent`` with ``use_rnn: False`` (its qmix.yaml / vdn.yaml default), as its
    source writes it: fc1 → ReLU → ``rnn`` Linear → ReLU → fc2, the hidden state passed through."""

    def __init__(self, inputs: int):
        super().__init__()
        self.fc1 = nn.Linear(inputs, H)
        self.rnn = nn.Linear(H, H)
        self.fc2 = nn.Linear(H, A_SMAC)

    def forward(self, inputs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.rnn(F.relu(self.fc1(inputs))))
        return self.fc2(h), h


class PymarlQMixer(nn.Module):
    """PyMARL's ``QMixer`` with ``hypernet_layers=2`` (embed 32, hypernet embed 64)."""

    def __init__(self, state_dim: int, embed: int = 32, hyper: int = 64):
        super().__init__()
        self.embed = embed
        self.hyper_w_1 = nn.Sequential(nn.Linear(state_dim, hyper), nn.ReLU(), nn.Linear(hyper, embed * N))
        self.hyper_w_final = nn.Sequential(nn.Linear(state_dim, hyper), nn.ReLU(), nn.Linear(hyper, embed))
        self.hyper_b_1 = nn.Linear(state_dim, embed)
        self.V = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        qs = agent_qs.view(-1, 1, N)
        w1 = torch.abs(self.hyper_w_1(states)).view(-1, N, self.embed)
        b1 = self.hyper_b_1(states).view(-1, 1, self.embed)
        hidden = F.elu(torch.bmm(qs, w1) + b1)
        w_final = torch.abs(self.hyper_w_final(states)).view(-1, self.embed, 1)
        return (torch.bmm(hidden, w_final) + self.V(states).view(-1, 1, 1)).view(-1)


class NotWeights:
    """A pickled object whose loading would run code from this module."""


def _randomise(module: nn.Module, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return module


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pymarl")
    torch.save(_randomise(PymarlAgent(OBS + A_SMAC + N), 1).state_dict(), d / "agent.th")
    torch.save(_randomise(PymarlQMixer(STATE_SMAC), 2).state_dict(), d / "mixer.th")
    return d


def _import(run_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([ROBENCH, "import", "pymarl", str(run_dir), "--env", "3m", "--learner", "qmix",
                           "--out", str(out), "--episodes", "8", *extra], capture_output=True, text=True, timeout=300)


def test_action_order_maps_smax_moves_onto_smac_indices():
    # SMAX: 0 north, 1 east, 2 south, 3 west, 4 stop, 5.. attack; SMAC: 1 stop, 2 N, 3 S, 4 E, 5 W, 6.. attack
    assert smac_action_order(8) == [2, 4, 3, 5, 1, 6, 7, 8]


def test_imported_agent_gives_pymarls_q_values(run_dir, tmp_path):
    out = tmp_path / "ck"
    res = _import(run_dir, out)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["origin"]["format"] == "pymarl" and set(manifest["origin"]["files"]) == {"agent.th", "mixer.th"}
    assert manifest["origin"]["mixer"].startswith("not imported: PyMARL's mixer reads a state of 48")
    assert manifest["config"]["learner"]["last_action"] is True and manifest["env"]["obs_layout"] == "smac"
    agent, mixer, _ = load_protagonist(out)
    assert mixer is None  # SMAX's state is not SMAC's: agent only
    theirs = PymarlAgent(OBS + A_SMAC + N)
    theirs.load_state_dict(torch.load(run_dir / "agent.th", weights_only=True))
    order = torch.tensor(smac_action_order(8))
    gen = torch.Generator().manual_seed(3)
    hidden, h = agent.init_hidden(2), torch.zeros(2 * N, H)
    prev_smac = torch.zeros(2, N, A_SMAC)  # PyMARL's last action starts as zeros
    for _ in range(5):
        obs = torch.rand(2, N, OBS, generator=gen)
        inputs = torch.cat([obs, prev_smac, torch.eye(N).expand(2, N, N)], -1).reshape(2 * N, -1)
        q_theirs, h = theirs(inputs, h)
        q_ours, hidden = agent.step(obs, hidden)
        assert torch.allclose(q_ours.reshape(2 * N, -1), q_theirs[:, order], atol=1e-6, rtol=0)
        act = torch.randint(8, (2, N), generator=gen)
        hidden = agent.record_actions(hidden, act)
        prev_smac = F.one_hot(order[act], A_SMAC).float()


def test_imported_qmix_mixer_gives_pymarls_q_tot(run_dir):
    theirs = PymarlQMixer(STATE_SMAC)
    theirs.load_state_dict(torch.load(run_dir / "mixer.th", weights_only=True))
    ours = mixer_from_pymarl(read_state_dict(run_dir / "mixer.th"), N, STATE_SMAC)
    gen = torch.Generator().manual_seed(4)
    qs, states = torch.randn(7, N, generator=gen), torch.randn(7, STATE_SMAC, generator=gen)
    assert torch.allclose(ours(qs, states), theirs(qs, states), atol=1e-6, rtol=0)


def test_a_file_that_needs_unpickling_is_refused_in_one_line(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    torch.save({"fc1.weight": NotWeights()}, d / "agent.th")
    res = _import(d, tmp_path / "ck")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "would unpickle code, which robench refuses" in lines[0]
    assert not (tmp_path / "ck").exists()


def test_wrong_sizes_and_missing_files_are_one_line_errors(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    torch.save(PymarlAgent(OBS + 5).state_dict(), d / "agent.th")
    with pytest.raises(PymarlImportError, match="fc1 takes 35 inputs"):
        from robench.pymarl_import import import_pymarl

        import_pymarl(d, "3m", "vdn", tmp_path / "ck", episodes=2)
    res = _import(tmp_path / "nowhere", tmp_path / "ck")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "agent.th is missing" in res.stderr


def test_an_agent_only_import_cannot_start_a_run(run_dir, tmp_path):
    out = tmp_path / "ck"
    assert _import(run_dir, out).returncode == 0
    res = subprocess.run([ROBENCH, "train", "--defense", "noadv", "--env", "3m", "--learner", "qmix", "--steps", "100",
                          "--init-from", str(out), "--learner-opt", "last_action=true", "--out", str(tmp_path / "t"),
                          "--quiet"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "holds no mixer weights" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_on_the_sc2_backend_the_mixer_comes_too(run_dir, tmp_path, monkeypatch):
    from robench.pymarl_import import import_pymarl

    monkeypatch.setenv("ROBENCH_SC2_ENV", "sc2_standin:StandInStarCraft2Env")  # SMAC's sizes: state 48
    monkeypatch.setenv("ROBENCH_SC2_WORKERS", "0")
    manifest = import_pymarl(run_dir, "3m", "qmix", tmp_path / "ck", backend="sc2", episodes=2)
    assert manifest["origin"]["mixer"] == "imported" and manifest["env"]["backend"] == "sc2"
    _, mixer, _ = load_protagonist(tmp_path / "ck")
    theirs = PymarlQMixer(STATE_SMAC)
    theirs.load_state_dict(torch.load(run_dir / "mixer.th", weights_only=True))
    qs, states = torch.randn(5, N), torch.randn(5, STATE_SMAC)
    assert torch.allclose(mixer(qs, states), theirs(qs, states), atol=1e-6, rtol=0)


def test_an_epymarl_feed_forward_agent_imports_as_the_mlp_agent_with_its_q_values(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    theirs = _randomise(EpymarlFeedForwardAgent(OBS + A_SMAC + N), 5)
    torch.save(theirs.state_dict(), d / "agent.th")
    out = tmp_path / "ck"
    res = subprocess.run([ROBENCH, "import", "pymarl", str(d), "--env", "3m", "--learner", "vdn", "--out", str(out),
                          "--episodes", "8"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "manifest.json").read_text())["config"]["learner"]["agent"] == "mlp"
    agent, _, _ = load_protagonist(out)
    order = torch.tensor(smac_action_order(8))
    gen = torch.Generator().manual_seed(6)
    hidden, prev_smac = agent.init_hidden(2), torch.zeros(2, N, A_SMAC)
    for _ in range(3):
        obs = torch.rand(2, N, OBS, generator=gen)
        inputs = torch.cat([obs, prev_smac, torch.eye(N).expand(2, N, N)], -1).reshape(2 * N, -1)
        q_theirs, _ = theirs(inputs, torch.zeros(2 * N, H))
        q_ours, hidden = agent.step(obs, hidden)
        assert torch.allclose(q_ours.reshape(2 * N, -1), q_theirs[:, order], atol=1e-6, rtol=0)
        act = torch.randint(8, (2, N), generator=gen)
        hidden = agent.record_actions(hidden, act)
        prev_smac = F.one_hot(order[act], A_SMAC).float()


def test_a_truncated_file_is_told_apart_from_one_that_needs_unpickling(run_dir, tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    whole = (run_dir / "agent.th").read_bytes()
    (d / "agent.th").write_bytes(whole[: len(whole) // 2])
    res = _import(d, tmp_path / "ck")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "is truncated or damaged" in lines[0], res.stderr
    assert "unpickle" not in lines[0] and not (tmp_path / "ck").exists()


def test_weights_the_agent_has_no_place_for_are_refused(run_dir, tmp_path):
    from robench.pymarl_import import import_pymarl

    d = tmp_path / "run"
    d.mkdir()
    sd = torch.load(run_dir / "agent.th", weights_only=True)
    torch.save({**sd, "layer_norm.weight": torch.ones(H)}, d / "agent.th")  # EPyMARL's use_layer_norm
    with pytest.raises(PymarlImportError, match="no place for: layer_norm.weight"):
        import_pymarl(d, "3m", "vdn", tmp_path / "ck", episodes=2)
