"""Units of the network work: TURN REST credentials, the STUN username the shared port
routes by, host address rules, the local CA, the settings checks; and that the sendmmsg
experiment of bench/sendbatch.py sends what it is given (so its figure means something)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
import ssl
import subprocess
import sys

import pytest
from aioice import stun

from server.ca import issue_server_cert
from server.media.ice import host_addresses
from bench.sendbatch import BatchSender, available
from server.media.turn import browser_ice_servers, credentials
from server.media.udpmux import stun_request_username
from server.settings import ConfigError, load_settings


def test_turn_credentials_are_coturn_rest_hmacs_that_expire():
    username, credential = credentials("s3cret", 600, "vinh", now=1_000_000)
    assert username == "1000600:vinh"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1000600:vinh", hashlib.sha1).digest()).decode()
    assert credential == expected
    servers = browser_ice_servers(["turns:t.example:443?transport=tcp", "stun:t.example:3478"], "s3cret", 600,
                                  "weird user:x", now=0)
    assert servers[0] == {"urls": ["stun:t.example:3478"]}
    assert servers[1]["urls"] == ["turns:t.example:443?transport=tcp"]
    assert servers[1]["username"] == "600:weird-user-x"  # one colon only: coturn splits on it
    assert browser_ice_servers([], "s3cret", 600, "vinh") == []


def test_stun_username_of_a_binding_request_only():
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = "relay:browser"
    request.attributes["PRIORITY"] = 1
    request.add_message_integrity(b"password")
    assert stun_request_username(bytes(request)) == "relay:browser"
    response = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE,
                            transaction_id=request.transaction_id)
    assert stun_request_username(bytes(response)) is None
    assert stun_request_username(b"\x80" + bytes(30)) is None  # RTP
    assert stun_request_username(bytes(request)[:22]) is None  # truncated


def test_host_address_rules():
    assert host_addresses(["10.0.0.5"], "127.0.0.1") == ["10.0.0.5"]
    assert host_addresses([], "127.0.0.1") == ["127.0.0.1"]
    assert host_addresses([], "localhost") == ["127.0.0.1"]
    assert host_addresses([], "192.0.2.7") == ["192.0.2.7"]
    assert "127.0.0.1" not in host_addresses([], "0.0.0.0")


@pytest.mark.skipif(not available(), reason="sendmmsg(2) is Linux/glibc only")
async def test_sendmmsg_batch_arrives_whole_and_in_order():
    loop = asyncio.get_running_loop()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        sender = BatchSender(loop, transport)
        for i in range(150):
            sender.sendto(bytes([i]) * (i + 1), rx.getsockname())
        await asyncio.sleep(0.05)
        got = []
        while True:
            try:
                got.append(rx.recv(2048))
            except BlockingIOError:
                break
        assert got == [bytes([i]) * (i + 1) for i in range(150)]
        assert sender.calls == 3 and sender.sent == 150  # 64 per call
    finally:
        transport.close()
        rx.close()


def test_local_ca_signs_a_server_certificate_python_verifies(tmp_path):
    paths = issue_server_cert(tmp_path, ["dewan.lan"], ["127.0.0.1"])
    assert (paths["key"].stat().st_mode & 0o777) == 0o600 and (paths["ca_key"].stat().st_mode & 0o777) == 0o600
    again = issue_server_cert(tmp_path, ["dewan.lan"], [])
    assert again["ca_created"] is False  # the authority is kept: kiosks trust it once
    # a TLS handshake verified against the CA alone, by IP SAN
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(paths["cert"], paths["key"])
    issue_server_cert(tmp_path, [], ["127.0.0.1"])
    server_ctx.load_cert_chain(paths["cert"], paths["key"])
    client_ctx = ssl.create_default_context(cafile=str(paths["ca"]))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    import threading

    def serve():
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() is not None
            tls.send(b"x")
    thread.join(5)
    listener.close()


def test_tls_init_refuses_without_names(tmp_path):
    out = subprocess.run([sys.executable, "-m", "server", "tls", "init", "--state-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--name or --ip" in out.stderr


def test_turn_settings_are_checked():
    with pytest.raises(ConfigError, match="media.turn_secret"):
        load_settings(env={"DEWAN_MEDIA_TURN_URLS": "turns:t.example:443"})
    with pytest.raises(ConfigError, match="TURN URL not understood"):
        load_settings(env={"DEWAN_MEDIA_TURN_URLS": "turns:user:pw@t.example:443", "DEWAN_MEDIA_TURN_SECRET": "x"})
    s = load_settings(env={"DEWAN_MEDIA_UDP_PORT": "40000", "DEWAN_MEDIA_TURN_URLS": "turns:t.example:443",
                           "DEWAN_MEDIA_TURN_SECRET": "x"})
    assert s.media.udp_port == 40000
