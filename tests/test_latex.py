"""The LaTeX tables compile with a stock LaTeX (booktabs), names with TeX specials included."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robench.report import tex_escape

ROBENCH = str(Path(sys.executable).parent / "robench")


def test_tex_escape_covers_the_specials():
    assert tex_escape("3s_vs_3z & 50% #1 $x$ {a} ~^\\") == (
        r"3s\_vs\_3z \& 50\% \#1 \$x\$ \{a\} \textasciitilde{}\textasciicircum{}\textbackslash{}")


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
