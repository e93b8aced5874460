"""State files private from the first byte; link expiry; the pages' security headers."""

import base64
import json
import os
import re
import stat
import time
import urllib.error
import urllib.request

import pytest

from server.files import write_private
from server.routes import content_security_policy
from server.tls import ensure_self_signed
from tests.support.server import ROOT, DewanServer


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def token_body(url):
    body = url.rsplit("/j/", 1)[1].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    config = tmp_path_factory.mktemp("cfg") / "dewan.toml"
    config.write_text(f'[conference]\npoints_file = "{ROOT / "config" / "points.toml"}"\n'
                      "[links]\nttl_days = 2\n")
    old = os.umask(0)  # the most permissive umask: the files must still be private
    try:
        server = DewanServer(tmp_path_factory.mktemp("files") / "state", config=config).start()
    finally:
        os.umask(old)
    yield server
    server.stop()


def test_state_files_are_private_and_no_temp_file_is_left(srv, tmp_path):
    assert srv.cli("links", "--rotate", "vinh", "--html", str(tmp_path / "sheet.html")).returncode == 0
    srv.refresh_links()
    for path in (srv.state_dir / "secret.key", srv.state_dir / "links.html",
                 srv.state_dir / "token-generations.json", tmp_path / "sheet.html"):
        assert mode(path) == 0o600, path
    assert not [p for p in srv.state_dir.iterdir() if p.name.endswith(".tmp")]
    old = os.umask(0)
    try:
        cert, key = ensure_self_signed(tmp_path / "tls")
    finally:
        os.umask(old)
    assert mode(key) == 0o600 and b"PRIVATE KEY" in key.read_bytes() and cert.exists()


def test_an_existing_secret_is_never_replaced(tmp_path):
    path = tmp_path / "secret.key"
    assert write_private(path, "first", keep_existing=True)
    assert not write_private(path, "second", keep_existing=True)
    assert path.read_text() == "first" and mode(path) == 0o600


def test_console_links_expire_after_ttl_days_and_station_links_do_not(srv):
    links = srv.links
    for url in (links["chair"], *links["technicians"]):
        assert abs(token_body(url)["x"] - (time.time() + 2 * 86400)) < 120
    for url in (links["hall"], *links["points"].values()):
        assert "x" not in token_body(url)


def test_an_expired_link_is_refused_by_page_and_socket(srv):
    from server.keys import load_signer

    signer = load_signer(srv.state_dir)
    expired = signer.issue("chair", label="chair", ttl_s=-5)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{srv.base_url}/j/{expired}")
    assert caught.value.code == 401 and "expired" in caught.value.read().decode()


def fetch(url):
    with urllib.request.urlopen(url) as r:
        return r.headers, r.read().decode()


def test_pages_send_a_strict_csp_and_no_referrer(srv):
    for url in (srv.base_url + "/", srv.page_url("chair"), srv.page_url("vinh"), srv.page_url("tech"),
                srv.page_url("vinh") + "/check"):
        headers, html = fetch(url)
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in headers  # plain HTTP here (loopback)
        for tag in re.findall(r"<script[^>]*>", html):  # every script is a file or a data block
            assert "src=" in tag or 'type="application/json"' in tag, tag


def test_every_template_script_is_external(tmp_path):
    for template in (ROOT / "client_web" / "templates").glob("*.html"):
        text = template.read_text()
        for tag, body in re.findall(r"(<script[^>]*>)(.*?)</script>", text, re.S):
            assert "src=" in tag or ("application/json" in tag), (template, tag)
        assert not re.search(r"\son[a-z]+=", text), template  # no inline event handlers


def test_csp_connect_src_allows_the_owning_process_of_a_redis_deployment():
    csp = content_security_policy(["https://dewan-b.example:8443"])
    connect = re.search(r"connect-src ([^;]+);", csp).group(1).split()
    assert connect == ["'self'", "https://dewan-b.example:8443", "wss://dewan-b.example:8443"]
    # several processes: a process started later on another port of a known host is allowed
    csp = content_security_policy(["https://dewan-b.example:8443", "http://127.0.0.1:8444"], any_port=True)
    connect = re.search(r"connect-src ([^;]+);", csp).group(1).split()
    assert connect == ["'self'", "https://dewan-b.example:*", "wss://dewan-b.example:*",
                       "http://127.0.0.1:*", "ws://127.0.0.1:*"]


async def test_hsts_is_sent_under_tls(tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from server.app import create_app
    from server.settings import load_settings

    settings = load_settings(None, {"server.state_dir": str(tmp_path), "server.http": False})
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        response = await client.get("/")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    finally:
        await client.close()
