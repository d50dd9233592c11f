"""``robench pages --html``: the leaderboard site from the committed report, its links, and — in a
real browser (headless Chromium, skipped with one line where it is absent) — sorting and the
learner filter."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "reports" / "smax_protocol"
ROBENCH = str(Path(sys.executable).parent / "robench")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt install chromium)")


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "href" in attrs:
            self.targets.append(attrs["href"])
        if tag == "img":
            self.targets.append(attrs["src"])


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    res = subprocess.run([ROBENCH, "pages", "--report", str(REPORT), "--zoo", str(REPO / "checkpoints"), "--html",
                          str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return out


def test_every_link_and_image_of_the_site_resolves(site):
    pages = list(site.rglob("*.html"))
    assert (site / "index.html") in pages and (site / "3m.html") in pages
    for page in pages:
        parser = Links()
        parser.feed(page.read_text())
        for target in parser.targets:
            assert (page.parent / target.split("#")[0]).resolve().is_file(), f"{page.name} links {target}"
    board = (site / "3m.html").read_text()
    summary = pd.read_csv(REPORT / "seed_summary.csv")
    assert board.count("<tr data-learner=") == len(summary[(summary.env == "3m") & (summary.metric == "win_rate")])
    assert "checkpoints/3m/vdn_fgsm_s2.html" in board  # every seed of a row links its checkpoint


def test_a_checkpoint_page_holds_its_provenance_curves_and_adversaries(site):
    page = (site / "checkpoints" / "3m" / "vdn_fgsm_s0.html").read_text()
    assert "ec68fd8d" in page and "attack_prob=0.5" in page and "2,000,000 env steps" in page
    assert page.count("<polyline") == 3  # clean, under fgsm, under fgsm-support


def test_bad_input_is_one_line(tmp_path):
    res = subprocess.run([ROBENCH, "pages", "--report", str(tmp_path), "--html", str(tmp_path / "site")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "is not a report" in res.stderr
    assert not (tmp_path / "site").exists()


def dom(url: str) -> str:
    """The page's DOM after its scripts ran, from headless Chromium."""
    res = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-500:]
    return res.stdout


def rows(page: str) -> list[tuple[str, bool, list[str]]]:
    """(learner, hidden, cell texts) of the leaderboard's body rows, in the order shown."""
    found = re.findall(r'<tr data-learner="(\w+)"( style="display: none;")?>(.*?)</tr>', page)
    return [(lr, bool(hidden), [re.sub("<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)])
            for lr, hidden, r in found]


@needs_browser
def test_in_a_browser_sorting_reorders_the_rows_and_the_filter_hides_a_learner(site):
    url = (site / "3m.html").as_uri()
    shown = rows(dom(url))
    header = re.findall(r"<th[^>]*>(.*?)</th>", (site / "3m.html").read_text())
    k = header.index("FGSM")
    fgsm = lambda table: [float(r[2][k]) for r in table]  # noqa: E731
    descending = rows(dom(url + "#sort=FGSM&dir=desc"))
    assert fgsm(descending) == sorted(fgsm(shown), reverse=True) and fgsm(descending) != fgsm(shown)
    ascending = rows(dom(url + "#sort=FGSM"))
    assert fgsm(ascending) == sorted(fgsm(shown))
    by_name = [r[2][1] for r in rows(dom(url + "#sort=Defense"))]
    assert by_name == sorted(by_name, key=str.lower)
    filtered = rows(dom(url + "#learner=qmix"))
    assert {lr for lr, hidden, _ in filtered if not hidden} == {"qmix"} and any(h for _, h, _ in filtered)


@needs_browser
def test_in_a_browser_a_checkpoint_page_draws_its_curve(site, tmp_path):
    page = site / "checkpoints" / "3m" / "vdn_fgsm_s0.html"
    assert dom(page.as_uri()).count("<polyline") == 3
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,900", (site / "3m.html").as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_row_links_the_checkpoint_of_its_protocol_not_another_regimes_entry():
    from robench.site import _checkpoint_of

    base = {"map": "3m", "learner": "vdn", "defense": "atsa", "variant": "", "seed": 0, "zoo_entry": True}
    rows = [{**base, "path": "3m/vdn_atsa_p1_s0", "protocol": {"regime": {"attack_prob": 1.0}}},
            {**base, "path": "3m/vdn_atsa_s0", "protocol": {"regime": {"attack_prob": 0.5}}},
            {**base, "path": "3m/vdn_atsa_x_s0", "zoo_entry": False, "protocol": {"regime": {"attack_prob": 0.5}}}]
    assert _checkpoint_of(rows, "3m", "vdn", "atsa", 0)["path"] == "3m/vdn_atsa_s0"


def test_the_changed_share_comes_from_each_seeds_saved_diagnosis_of_the_same_weights(site, tmp_path):
    from robench.diagnose_file import save_diagnosis, saved_diagnosis

    page = (site / "3m.html").read_text()
    row = next(r for r in re.findall(r'<tr data-learner="vdn">(.*?)</tr>', page) if ">ATSA<" in r)
    seeds = [p for p in (REPO / "checkpoints" / "3m").glob("vdn_atsa_s*") if re.fullmatch(r"vdn_atsa_s\d+", p.name)]
    shares = [json.loads((s / "diagnosis.json").read_text())["changed_share"] for s in seeds]
    assert f'data-value="{100 * sum(shares) / len(shares):.6f}"' in row  # the mean of the seeds' saved diagnoses
    save_diagnosis(tmp_path, "a" * 64, {"changed_share": 0.5}, 10, 0)
    assert saved_diagnosis(tmp_path, "a" * 64)["changed_share"] == 0.5
    assert saved_diagnosis(tmp_path, "b" * 64) is None  # a diagnosis of other weights is not this one's


def test_the_leaderboard_is_table1_at_the_maps_eps_while_the_report_holds_a_sweep(site):
    scores = pd.read_csv(REPORT / "scores.csv")
    assert scores[(scores.env == "3m") & (scores.attack != "none")].eps.nunique() > 1  # the committed report sweeps ε
    page = (site / "3m.html").read_text()
    assert "ε = 0.25, bounds" in page
