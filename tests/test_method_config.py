"""Typed method settings (``robench.method_config``): building, checking, per-learner and
per-victim defaults, and the adversary manifests of the zoo read back into typed configs."""
import json
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path

import pytest

from attacks import ATTACKS
from attacks.paad import PAADConfig
from attacks.training import LEARNED, AttackTrainConfig, attack_train_config
from defenses import DEFENSES
from robench.errors import RobenchError
from robench.learners.learner import LearnerConfig
from robench.method_config import MethodConfig, describe, make, parse, setting

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Toy(MethodConfig):
    rate: float = setting(0.5, low=0.0, high=1.0)
    steps: int = setting(3, low=1)
    mode: str = setting("a", choices=("a", "b"))
    flag: bool = False
    late: float = setting(0.0, added=0.0)
    temperature: float | None = None


def test_make_applies_given_settings_and_checks_every_constraint():
    assert make(Toy, {"rate": 1, "mode": "b"}, "toy") == Toy(rate=1, mode="b")  # an int is a float
    for given, needle in [({"rate": 1.5}, "rate must lie in [0, 1], got 1.5"),
                          ({"steps": 0}, "steps must lie in [1, inf], got 0"),
                          ({"mode": "c"}, "mode must be one of a, b, got 'c'"),
                          ({"rate": float("nan")}, "rate must be finite"),
                          ({"steps": 2.5}, "steps expects an int, got 2.5"),
                          ({"steps": True}, "steps expects an int, got True"),
                          ({"flag": 1}, "flag expects a bool, got 1"),
                          ({"mode": 3}, "mode expects a str"),
                          ({"nope": 1}, "toy has no option nope; its options: rate, steps, mode, flag, late")]:
        with pytest.raises(RobenchError, match="toy"):
            make(Toy, given, "toy")
        with pytest.raises(RobenchError) as err:
            make(Toy, given, "toy")
        assert needle in str(err.value)
    assert make(Toy, {"temperature": 0.2}, "toy").temperature == 0.2  # None defaults take floats
    zero = make(Toy, {"rate": 0, "temperature": 1}, "toy")
    assert type(zero.rate) is float and type(zero.temperature) is float  # TOML's 0 is recorded as 0.0


def test_parse_types_text_like_the_defaults_and_keeps_what_was_given():
    assert parse(Toy, ["rate=0.25", "steps=4", "flag=true", "mode=b", "temperature=2"], "--x", "toy") == {
        "rate": 0.25, "steps": 4, "flag": True, "mode": "b", "temperature": 2.0}
    with pytest.raises(RobenchError, match="option steps expects an int"):
        parse(Toy, ["steps=many"], "--x", "toy")
    with pytest.raises(RobenchError, match="expects KEY=VALUE"):
        parse(Toy, ["steps"], "--x", "toy")


def test_metadata_readers_and_listing():
    assert Toy.added() == {"late": 0.0}
    assert Toy.choices() == {"mode": ("a", "b")}
    assert describe(Toy).startswith("rate=0.5, steps=3, mode=a (a|b), flag=False")
    with pytest.raises(FrozenInstanceError):
        Toy().rate = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("cls", [*DEFENSES.values(), *LEARNED.values()], ids=[*DEFENSES, *LEARNED])
def test_every_method_owns_a_frozen_config_whose_defaults_pass_its_own_checks(cls):
    assert issubclass(cls.Config, MethodConfig)
    for learner in ("vdn", "qmix"):
        cfg = cls.Config.for_learner(learner)
        make(cls.Config, {}, cls.name, cfg)  # the defaults are valid
        assert type(cfg) is cls.Config


def test_learned_attacks_and_replay_are_read_off_the_classes():
    assert set(LEARNED) == {name for name, cls in ATTACKS.items() if cls.learned}
    assert {name for name, cls in LEARNED.items() if cls.replay} == {"paad", "atsa", "romance", "romance-s"}
    assert {"atla", "paad", "atsa", "romance", "romance-s"} <= set(LEARNED)


def test_per_victim_settings_give_paads_director_the_victims_architecture():
    cfg = PAADConfig().for_victim(LearnerConfig(mixer="qmix", agent="mlp"))
    assert (cfg.director_mixer, cfg.director_agent) == ("qmix", "mlp")
    assert LEARNED["atsa"].Config().for_victim(LearnerConfig(mixer="qmix")) == LEARNED["atsa"].Config()


def test_an_attack_run_refuses_settings_of_another_attack():
    with pytest.raises(TypeError, match="takes SDorConfig"):
        AttackTrainConfig(attack="atsa", options=PAADConfig())
    with pytest.raises(KeyError, match="unknown learned attack"):
        AttackTrainConfig(attack="fgsm")


def test_the_zoos_adversary_manifests_read_back_as_typed_settings():
    """Every committed adversary manifest — flat ones written before attacks owned their settings
    included — gives its attack's typed config with the recorded values."""
    paths = sorted(ROOT.glob("checkpoints/**/manifest.json"))
    adversaries = [json.loads(p.read_text()) for p in paths]
    adversaries = [m for m in adversaries if m["kind"] == "adversary"]
    assert len(adversaries) >= 10
    for manifest in adversaries:
        run = attack_train_config(manifest)
        recorded = manifest["config"].get("options", manifest["config"])
        assert isinstance(run.options, LEARNED[manifest["attack"]].Config)
        for key, value in run.options.to_dict().items():
            if key in recorded:
                assert value == recorded[key], (manifest["attack"], key)
        assert run.steps == manifest["config"]["steps"] and run.seed == manifest["config"]["seed"]
    atsa = [m for m in adversaries if m["attack"] == "atsa"][0]
    assert attack_train_config(atsa).options.kappa == atsa["config"].get("options", atsa["config"])["kappa"]


def test_a_new_adversary_manifest_nests_the_attacks_settings_and_round_trips():
    from dataclasses import asdict

    from robench.envs import EnvInfo
    from robench.manifest import adversary_manifest

    run = AttackTrainConfig(attack="atsa", steps=77, options=LEARNED["atsa"].Config(kappa=0.02, value="network"))
    info = EnvInfo(n_agents=3, obs_dim=6, state_dim=4, n_actions=5, episode_limit=10, map_name="3m", backend="smax")
    manifest = {**adversary_manifest("atsa", "sdor", asdict(run), info, "victim hash", "vdn", 0.25, 77, 1.0, 0.5),
                "content_hash": "weights hash"}  # save_checkpoint adds the hash
    assert manifest["config"]["options"]["kappa"] == 0.02 and manifest["threat"]["eps"] == 0.25
    assert attack_train_config(manifest) == run
