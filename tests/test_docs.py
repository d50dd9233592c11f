"""The front door: README and docs/ describe the tool as it is."""
import argparse
import re
from pathlib import Path

import pytest

from robench.cli import build_parser, main
from robench.cli_docs import _commands, cli_markdown

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("robench", "attacks", "defenses") for p in (ROOT / d).rglob("*.py")]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_cli_reference_is_generated_from_the_parser():
    assert (ROOT / "docs" / "cli.md").read_text() == cli_markdown(), \
        "docs/cli.md is stale: python -m robench.cli_docs > docs/cli.md"


def test_every_option_of_every_command_has_help():
    missing = [(name, a.dest) for name, sub, _ in _commands(build_parser(), "robench") for a in sub._actions
               if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction, argparse._VersionAction))
               and not a.help]
    assert not missing


def test_readme_is_short_and_keeps_the_test_command_markers():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert "<!-- test-command -->" in text and "<!-- /test-command -->" in text


def test_cited_files_exist_and_no_source_speaks_of_sessions():
    cited = re.compile(r"\b((?:docs/[\w/.-]+\.md)|DESIGN\.md|METHODS\.md|CHANGELOG\.md)")
    for path in SOURCES + DOCS:
        text = path.read_text()
        for name in cited.findall(text):
            assert (ROOT / name).is_file(), f"{path.relative_to(ROOT)} cites {name}, which is not in the repository"
        if path in SOURCES:
            assert not re.search(r"\b(session|attempt)s?\b", text, re.I), f"{path.relative_to(ROOT)} speaks of sessions"


def _commands_in_docs() -> list[list[str]]:
    """The subcommand path of every ``robench …`` command written in README.md and docs/."""
    names = {n.split()[1:][0] for n, _, _ in _commands(build_parser(), "robench")}
    found = set()
    for path in DOCS:
        for words in re.findall(r"robench ((?:[a-z]+)(?: [a-z]+)?)", path.read_text()):
            first, *rest = words.split()
            if first in names:
                found.add((first, *[w for w in rest if w in ("build", "status", "train")][:1]))
    return sorted(list(c) for c in found)


@pytest.mark.parametrize("command", _commands_in_docs(), ids=" ".join)
def test_every_documented_command_exists(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0


def test_result_pages_and_the_readme_table_are_generated_from_the_committed_report(tmp_path):
    from robench.pages import MARKERS, write_pages

    report = Path("reports/smax_protocol")
    command = "robench pages --report reports/smax_protocol --out docs/results --readme README.md"
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    import os

    here = os.getcwd()
    os.chdir(ROOT)
    try:
        written = write_pages(report, tmp_path / "results", ROOT / "reports" / "paper_table1.csv", readme, command)
    finally:
        os.chdir(here)
    assert readme not in written, "README's results table is stale: " + command
    for page in (tmp_path / "results").glob("*.md"):
        assert page.read_text() == (ROOT / "docs" / "results" / page.name).read_text(), f"stale page: {command}"
    assert MARKERS[0] in readme.read_text()


def test_the_one_option_defense_of_design_md_trains_and_records_its_option(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "design.md").read_text()
    block = text.split("<!-- defense-example -->")[1].split("<!-- /defense-example -->")[0]
    code = block.split("```python")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(code, "docs/design.md", "exec"), namespace)
    import defenses
    from robench.learners.learner import LearnerConfig
    from robench.train import TrainConfig
    from robench.runs import train_and_save

    cls = namespace["FGSMRamp"]
    monkeypatch.setitem(defenses.DEFENSES, "fgsm-ramp", cls)  # the registry line
    cfg = TrainConfig(env="3m", defense="fgsm-ramp", steps=300, n_envs=4, updates_per_rollout=1, eval_every=10_000,
                      eval_episodes=4, final_eval_episodes=4, defense_options=cls.parse_options(["ramp=0.25"]),
                      learner=LearnerConfig(batch_size=4, buffer_size=16))
    manifest = train_and_save(cfg, tmp_path / "run", show_progress=False)
    assert manifest["defense"] == "fgsm-ramp" and manifest["defense_options_resolved"] == {"ramp": 0.25}
    assert manifest["regime"]["attack_prob"] == 0.5
    with pytest.raises(Exception, match="must lie in"):
        cls.parse_options(["ramp=2"])


def test_the_readmes_python_api_block_runs():
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- python-api -->", 1)[1].split("<!-- /python-api -->", 1)[0]
    code = block.split("```python", 1)[1].split("```", 1)[0]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr
    assert [line.split(":")[0] for line in res.stdout.splitlines()] == ["none", "random", "fgsm"]


def test_a_map_page_names_what_differs_on_that_map_only():
    import pandas as pd

    from robench.pages import MAP_DIFFERENCES, map_page

    report = ROOT / "reports" / "smax_protocol"
    scores, summary = pd.read_csv(report / "scores.csv"), pd.read_csv(report / "seed_summary.csv")
    paper = pd.read_csv(ROOT / "reports" / "paper_table1.csv")
    as_3s = {"3m": "3s_vs_3z"}  # the committed 3m report relabelled: the notes depend on the map's name only
    page = map_page("3s_vs_3z", scores.replace({"env": as_3s}), summary.replace({"env": as_3s}), paper, report, "cmd")
    differs = page.split("## Where this measurement differs from the paper's")[1]
    assert all(f"- {d}" in differs for d in MAP_DIFFERENCES["3s_vs_3z"])
    assert "Shields:" not in map_page("3m", scores, summary, paper, report, "cmd")
