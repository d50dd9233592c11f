"""``robench import pymarl``: a PyMARL / EPyMARL run's saved model as a robench checkpoint.

PyMARL saves ``agent.th`` (its ``RNNAgent``: ``fc1`` Linear(input, H), ``rnn`` GRUCell(H, H),
``fc2`` Linear(H, A)) and, for QMIX, ``mixer.th`` (its ``QMixer`` with two-layer hypernetworks:
``hyper_w_1``, ``hyper_w_final``, ``hyper_b_1``, ``V``) as state dicts.  The agent's input is
[observation, own last action one-hot (``obs_last_action``), agent-id one-hot
(``obs_agent_id``)] — robench's order (``robench.learners.agent``) — on SMAC's observation layout
(``--obs smac``, ``robench.envs.smac_layout``).  The map onto robench's networks:

  * ``rnn.{weight,bias}_{ih,hh}`` (GRUCell) → ``rnn.{weight,bias}_{ih,hh}_l0`` (nn.GRU, the same
    gate order r, z, n), so h' = GRU(x, h) is unchanged;
  * EPyMARL's feed-forward agent (``use_rnn: False``, the default of its ``qmix.yaml`` /
    ``vdn.yaml``: ``rnn`` is a Linear(H, H) applied as h = relu(rnn(x))) → robench's ``MLPAgent``,
    ``rnn.{weight,bias}`` → ``fc_mid.{weight,bias}`` (the same relu(W x + b));
  * SMAC's actions (0 no-op, 1 stop, 2 north, 3 south, 4 east, 5 west, 6 + e attack e) onto the
    target backend's (``smac_layout.smac_action_order``): row j of ``fc2`` is SMAC's row
    order[j], and the last-action columns of ``fc1`` are permuted alike, so
    Q_robench(o, a_prev, i)[j] = Q_PyMARL(o, order[a_prev], i)[order[j]].  SMAC's no-op (available
    only to dead agents, which SMAX does not ask to act) has no counterpart and is dropped;
  * QMIX's hypernetworks by name (``hyper_w_1`` → ``hyper_w1``, ``hyper_w_final`` → ``hyper_w2``,
    ``hyper_b_1`` → ``hyper_b1``, ``V`` → ``value``), when the target env's global state has
    PyMARL's size; otherwise only the agent is imported (SMAX's state is not SMAC's) and the
    manifest says so — the checkpoint evaluates and is attacked, but cannot be fine-tuned.

Files are read with torch's weights-only loader (torch ≥ 2.10, whose loader has no known way to
run code): a file that would need code unpickled is refused, never executed, and a truncated or
damaged file is told apart from one.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from robench.checkpoint import protagonist_tensors, save_checkpoint
from robench.envs import canonical_map, make_env, paper_eps
from robench.envs.protocol import EnvInfo
from robench.envs.smac_layout import smac_action_order
from robench.errors import RobenchError
from robench.learners.agent import Agent, MLPAgent, RNNAgent
from robench.learners.learner import LearnerConfig
from robench.learners.mixers import QMixer
from robench.manifest import protagonist_manifest
from robench.regime import Regime
from robench.threat import DEFAULT_THREAT

AGENT_FILE, MIXER_FILE = "agent.th", "mixer.th"
GRU_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
MIXER_NAMES = {"hyper_w_1": "hyper_w1", "hyper_w_final": "hyper_w2", "hyper_b_1": "hyper_b1", "V": "value"}
"""PyMARL's QMixer module names → robench's ``QMixer``'s."""


class PymarlImportError(RobenchError):
    """A PyMARL file that cannot be imported (missing, needs unpickling, wrong shapes)."""


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save``-d state dict, read with ``weights_only=True``."""
    if not path.is_file():
        raise PymarlImportError(f"{path} is missing (a PyMARL run directory holds {AGENT_FILE}, and {MIXER_FILE} for QMIX)")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # the weights-only loader met something other than weights
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PymarlImportError(f"{path} is not a plain state dict: loading it would unpickle code, which robench "
                                f"refuses ({first[:120]})") from None
    except Exception as err:  # noqa: BLE001 — a damaged file: the archive or its records do not read
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PymarlImportError(f"{path} is truncated or damaged: torch cannot read it ({first[:120]})") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise PymarlImportError(f"{path} is not a state dict of tensors")
    return {k: v.float() for k, v in loaded.items()}


def _expect(sd: dict[str, torch.Tensor], key: str, shape: tuple[int, ...], path: Path) -> torch.Tensor:
    if key not in sd:
        raise PymarlImportError(f"{path} has no {key!r} (keys: {', '.join(sorted(sd))})")
    if tuple(sd[key].shape) != shape:
        raise PymarlImportError(f"{path}: {key} has shape {list(sd[key].shape)}, expected {list(shape)} for this env")
    return sd[key]


def agent_from_pymarl(sd: dict[str, torch.Tensor], info: EnvInfo, path: Path = Path(AGENT_FILE)) -> Agent:
    """robench's ``RNNAgent`` (``MLPAgent`` for EPyMARL's ``use_rnn: False``) with the weights of
    PyMARL's ``RNNAgent`` state dict ``sd``, every shape checked against ``info`` (SMAC layout
    sizes; PyMARL's A = the backend's actions + no-op)."""
    if "fc1.weight" not in sd or sd["fc1.weight"].dim() != 2:
        raise PymarlImportError(f"{path} is not a PyMARL RNNAgent state dict (no fc1.weight)")
    hidden, width = sd["fc1.weight"].shape
    order = smac_action_order(info.n_actions)
    a_smac = len(order) + 1
    extra = width - info.obs_dim - info.n_agents
    if extra not in (0, a_smac):
        raise PymarlImportError(f"{path}: fc1 takes {width} inputs; {info.map_name} in SMAC's layout gives observation "
                           f"{info.obs_dim} + agent id {info.n_agents} (+ last action {a_smac}): "
                           f"{info.obs_dim + info.n_agents} or {info.obs_dim + info.n_agents + a_smac}")
    last_action = extra == a_smac
    _expect(sd, "fc2.weight", (a_smac, hidden), path)
    feed_forward = "rnn.weight" in sd  # EPyMARL's use_rnn: False: rnn is a Linear(H, H)
    kind = MLPAgent if feed_forward else RNNAgent
    agent = kind(info.obs_dim, info.n_agents, info.n_actions, hidden, last_action)
    rows = torch.tensor(order)
    fc1 = sd["fc1.weight"]
    if last_action:
        obs_cols, act_cols, id_cols = fc1.split([info.obs_dim, a_smac, info.n_agents], dim=1)
        fc1 = torch.cat([obs_cols, act_cols[:, rows], id_cols], dim=1)
    own = {"fc1.weight": fc1, "fc1.bias": _expect(sd, "fc1.bias", (hidden,), path),
           "fc2.weight": sd["fc2.weight"][rows], "fc2.bias": _expect(sd, "fc2.bias", (a_smac,), path)[rows]}
    if feed_forward:
        own["fc_mid.weight"] = _expect(sd, "rnn.weight", (hidden, hidden), path)
        own["fc_mid.bias"] = _expect(sd, "rnn.bias", (hidden,), path)
    for key in () if feed_forward else GRU_KEYS:
        shape = (3 * hidden, hidden) if key.startswith("weight") else (3 * hidden,)
        own[f"rnn.{key}_l0"] = _expect(sd, f"rnn.{key}", shape, path)
    core = {"rnn.weight", "rnn.bias"} if feed_forward else {f"rnn.{k}" for k in GRU_KEYS}
    unknown = sorted(set(sd) - core - {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"})
    if unknown:  # e.g. EPyMARL's use_layer_norm: a layer robench's agents do not have
        raise PymarlImportError(f"{path} holds weights robench's agent has no place for: {', '.join(unknown)}")
    agent.load_state_dict(own)
    return agent


def mixer_from_pymarl(sd: dict[str, torch.Tensor], n_agents: int, state_dim: int,
                      path: Path = Path(MIXER_FILE)) -> QMixer:
    """robench's ``QMixer`` with the weights of PyMARL's two-layer-hypernetwork ``QMixer``."""
    if "hyper_w_1.weight" in sd:
        raise PymarlImportError(f"{path} is a QMixer with one-layer hypernetworks (hypernet_layers=1); robench's "
                           f"QMIX has two (PyMARL's default, hypernet_layers=2)")
    if "hyper_w_1.0.weight" not in sd or "hyper_b_1.weight" not in sd:
        raise PymarlImportError(f"{path} is not a PyMARL QMixer state dict (no hyper_w_1.0 / hyper_b_1 weights)")
    hyper_embed, embed = sd["hyper_w_1.0.weight"].shape[0], sd["hyper_b_1.weight"].shape[0]
    mixer = QMixer(n_agents, state_dim, embed=embed, hyper_embed=hyper_embed)
    mine = mixer.state_dict()
    own = {}
    for key, value in sd.items():
        module, _, rest = key.partition(".")
        if module not in MIXER_NAMES:
            raise PymarlImportError(f"{path}: unexpected key {key!r}")
        own[f"{MIXER_NAMES[module]}.{rest}"] = value
    for key, value in mine.items():
        if key not in own:
            raise PymarlImportError(f"{path} has no weights for {key}")
        if own[key].shape != value.shape:
            raise PymarlImportError(f"{path}: {key} has shape {list(own[key].shape)}, expected {list(value.shape)}")
    mixer.load_state_dict(own)
    return mixer


def mixer_state_dim(sd: dict[str, torch.Tensor]) -> int | None:
    """The global-state size a PyMARL QMixer state dict was trained on (None if not one)."""
    w = sd.get("hyper_w_1.0.weight")
    return None if w is None else int(w.shape[1])


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def import_pymarl(run_dir: Path, env: str, learner: str, out: Path, backend: str = "smax", defense: str = "noadv",
                  overwrite: bool = False, episodes: int = 200, seed: int = 0) -> dict[str, Any]:
    """Write the PyMARL run ``run_dir`` as a protagonist checkpoint at ``out`` for ``env`` on
    ``backend`` in SMAC's observation layout; the manifest names its origin (files and their
    sha256) and records its clean win rate over ``episodes`` greedy episodes there."""
    from robench.evaluate import evaluate

    if learner not in ("vdn", "qmix"):
        raise PymarlImportError(f"unknown learner {learner!r}; PyMARL runs import as vdn or qmix")
    run_dir = Path(run_dir)
    env = canonical_map(env, backend)
    info = make_env(env, 1, backend, obs_layout="smac").info()
    agent_path = run_dir / AGENT_FILE
    agent = agent_from_pymarl(read_state_dict(agent_path), info, agent_path)
    files = {AGENT_FILE: file_hash(agent_path)}
    mixer = None
    mixer_note = "vdn has no weights"
    if learner == "qmix":
        mixer_path = run_dir / MIXER_FILE
        sd = read_state_dict(mixer_path)
        files[MIXER_FILE] = file_hash(mixer_path)
        if mixer_state_dim(sd) == info.state_dim:
            mixer = mixer_from_pymarl(sd, info.n_agents, info.state_dim, mixer_path)
            mixer_note = "imported"
        else:
            mixer_note = (f"not imported: PyMARL's mixer reads a state of {mixer_state_dim(sd)}, the {backend} "
                          f"backend's state has {info.state_dim}")
    learner_cfg = LearnerConfig(mixer=learner, agent="mlp" if isinstance(agent, MLPAgent) else "rnn",
                                hidden=agent.hidden, last_action=agent.last_action)
    clean, _ = evaluate(agent, env, backend=backend, obs_layout="smac", episodes=episodes, seed=seed + 424_242)
    eps = paper_eps(env)
    tensors = {f"agent.{k}": v.detach().clone() for k, v in agent.state_dict().items()}
    if mixer is not None:
        tensors = protagonist_tensors(agent, mixer)
    origin = {"format": "pymarl", "run_dir": str(run_dir), "files": files, "mixer": mixer_note,
              "action_order": smac_action_order(info.n_actions)}
    config = {"env": env, "backend": backend, "defense": defense, "obs_layout": "smac", "seed": seed,
              "learner": asdict(learner_cfg)}
    manifest = protagonist_manifest(info, learner, defense, DEFAULT_THREAT.at(eps), seed, clean, Regime(), config,
                                    origin=origin)
    return save_checkpoint(out, tensors, manifest, overwrite=overwrite)
