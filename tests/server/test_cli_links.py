import base64
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dewan(*args, state):
    return subprocess.run([sys.executable, "-m", "server", *args, "--state-dir", str(state)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)


def test_links_json_has_every_station_and_console(tmp_path):
    out = dewan("links", "--json", "--base-url", "https://dewan.example:8443", state=tmp_path)
    assert out.returncode == 0, out.stderr
    links = json.loads(out.stdout)
    assert set(links) == {"chair", "chairs", "hall", "technicians", "points"}
    # one link per named moderator, each its own identity (token label = chair id)
    assert set(links["chairs"]) == {"chu-tich", "pho-chu-tich", "giam-doc-so", "van-phong"}
    labels = {json.loads(base64.urlsafe_b64decode(u.split("/j/")[1].split(".")[0] + "==")).get("l")
              for u in [links["chair"], *links["chairs"].values()]}
    assert labels == {"chair", "chu-tich", "pho-chu-tich", "giam-doc-so", "van-phong"}
    assert len(links["points"]) == 21 and "hall" not in links["points"]
    assert links["points"]["vinh"].startswith("https://dewan.example:8443/j/")
    assert len(links["technicians"]) >= 1
    # stable across runs: kiosks bookmark them
    again = json.loads(dewan("links", "--json", state=tmp_path).stdout)
    tokens = lambda d: {k: v.split("/j/")[1] for k, v in d["points"].items()}  # noqa: E731
    assert tokens(again) == tokens(links)

def test_rotate_changes_only_that_points_link_and_html_sheet(tmp_path):
    before = json.loads(dewan("links", "--json", state=tmp_path).stdout)
    out = dewan("links", "--json", "--rotate", "vinh", "--html", str(tmp_path / "links.html"), state=tmp_path)
    assert out.returncode == 0, out.stderr
    after = json.loads(out.stdout)
    assert after["points"]["vinh"] != before["points"]["vinh"]
    assert after["points"]["cua-lo"] == before["points"]["cua-lo"]
    sheet = (tmp_path / "links.html").read_text()
    assert after["points"]["vinh"] in sheet and "Huyện Đô Lương" in sheet
    assert dewan("links", "--rotate", "atlantis", state=tmp_path).returncode == 2
