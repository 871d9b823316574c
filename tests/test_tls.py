"""rediss:// against a real redis-server speaking TLS, with certificates made here."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from support import Qwsup
from testkit import redis_binaries, wait_until, write_config

pytestmark = pytest.mark.process


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-days", "1",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}",
            cwd=d)  # fmt: skip


def make_cert(d: Path, name: str, ca: str, extension: str) -> None:
    (d / f"{name}.ext").write_text(extension + "\n")
    openssl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "1", "-out", f"{name}.crt",
            "-extfile", f"{name}.ext", cwd=d)  # fmt: skip


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    binary = redis_binaries().get("system")
    assert binary, "Debian's redis-server (built with TLS) is needed; make test installs it"
    assert shutil.which("openssl"), "openssl is needed to make the test certificates"
    make_ca(tmp_path, "ca")
    make_ca(tmp_path, "other-ca")
    make_cert(tmp_path, "server", "ca", "subjectAltName=IP:127.0.0.1")
    make_cert(tmp_path, "client", "ca", "extendedKeyUsage=clientAuth")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--tls-cert-file", "server.crt", "--tls-key-file", "server.key",
         "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "yes"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(
        host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(tmp_path / "ca.crt"),
        ssl_certfile=str(tmp_path / "client.crt"), ssl_keyfile=str(tmp_path / "client.key"),
    )  # fmt: skip

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, 10, "the TLS redis-server")
        yield port, tmp_path
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qwsup", "-c", str(config), *args],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_jobs_run_over_mutual_tls_and_a_wrong_ca_is_refused(
    tls_server: tuple[int, Path], env: dict[str, str]
) -> None:
    port, d = tls_server
    tls = {"ca_file": str(d / "ca.crt"), "cert_file": str(d / "client.crt"),
           "key_file": str(d / "client.key")}  # fmt: skip
    config = write_config(d / "tls.toml", f"rediss://127.0.0.1:{port}/0", redis=tls,
                          workers={"count": 1, "handler": "qwsup.examples:log_job"})  # fmt: skip
    qw = Qwsup(config, env)
    try:
        added = cli(config, "enqueue", "over=tls")
        assert added.returncode == 0, added.stderr
        qw.wait_log(f"job {added.stdout.strip()}: {{'over': 'tls'}}")
        qw.send(signal.SIGTERM)
        assert qw.wait() == 0
    finally:
        qw.close()

    wrong = write_config(d / "wrong.toml", f"rediss://127.0.0.1:{port}/0",
                         redis={**tls, "ca_file": str(d / "other-ca.crt")})  # fmt: skip
    refused = cli(wrong, "enqueue", "a=b")
    assert refused.returncode == 69
    assert "certificate verify failed" in refused.stderr
    assert refused.stderr.count("\n") == 1

    plain = write_config(d / "plain.toml", f"redis://127.0.0.1:{port}/0")
    assert cli(plain, "enqueue", "a=b").returncode == 69  # no plain-text fallback
