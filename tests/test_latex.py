"""The LaTeX tables compile with a stock LaTeX (booktabs), names with TeX specials included."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robench.tables import render_table2, tex_escape

ROBENCH = str(Path(sys.executable).parent / "robench")


def test_tex_escape_covers_the_specials():
    assert tex_escape("3s_vs_3z & 50% #1 $x$ {a} ~^\\") == (
        r"3s\_vs\_3z \& 50\% \#1 \$x\$ \{a\} \textasciitilde{}\textasciicircum{}\textbackslash{}")


def test_table2_pools_episode_std_over_seeds_and_averages_the_columns():
    import numpy as np
    import pandas as pd

    rows = []
    for d, base, cr in (("noadv", 10.0, 0.2), ("atsa", 40.0, 0.0)):
        for a, shift in (("none", 0.0), ("fgsm", -10.0)):
            for seed, (mu, sd) in enumerate(((base + shift - 5, 3.0), (base + shift + 5, 4.0))):
                rows.append(dict(env="merge", learner="vdn", defense=d, attack=a, seed=seed, mean_return=mu,
                                 std_return=sd, crash_rate=cr))
    _, md = render_table2(pd.DataFrame(rows))
    pooled = np.sqrt((9 + 16) / 2 + 25)  # mean of the variances + variance of the seed means
    atsa = next(line for line in md.splitlines() if "| ATSA |" in line).split(" | ")
    assert atsa[3] == f"**40.00±{pooled:.2f}**" and atsa[4] == "**0.00**"  # clean: best Reward, best CR
    assert atsa[5] == f"**30.00±{pooled:.2f}**"
    assert atsa[7] == "35.00±5.00" and atsa[8].startswith("0.00±0.00")  # AVG over the two columns
    noadv = next(line for line in md.splitlines() if "| NoAdv |" in line).split(" | ")
    assert noadv[3] == f"10.00±{pooled:.2f}" and noadv[4] == "0.20"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex on this machine")
def test_tables_compile_with_pdflatex(tmp_path):
    rows = ["env,learner,defense,attack,win_rate,reward,crash_rate"]
    for env in ("3m", "3s_vs_3z"):
        for lr in ("vdn", "qmix"):
            for d in ("noadv", "pr-rep", "my_def&co"):
                rows += [f"{env},{lr},{d},{a},{0.1 * i:.2f},{i:.1f},{0.05 * i:.2f}"
                         for i, a in enumerate(["none", "random", "fgsm", "atla", "paad", "atsa"])]
    (tmp_path / "cells.csv").write_text("\n".join(rows) + "\n")
    res = subprocess.run([ROBENCH, "report", "--from-csv", str(tmp_path / "cells.csv"), "--out", str(tmp_path / "rep")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    tables = sorted((tmp_path / "rep").glob("table*.tex"))
    assert [t.name for t in tables] == ["table1_win_rate.tex", "table2_reward_cr.tex"]
    body = "\n".join(t.read_text() for t in tables)
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[margin=5mm,landscape]{geometry}\n"
                   f"\\begin{{document}}\n{body}\n\\end{{document}}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
