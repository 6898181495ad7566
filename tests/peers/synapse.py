"""A real Synapse homeserver as a test peer, on 127.0.0.1 only.

Synapse lives in its own virtualenv (never the project's: its pins would fight ours), created by
``python -m tests.peers.synapse install``.  ``SynapseServer`` writes a throw-away homeserver config
(SQLite, no federation, no outbound key fetches, shared-secret registration), starts it on a free
loopback port and registers users through the admin API, so tests talk to the same server software
a station would run, without touching any network but loopback.

``federated_pair()`` starts two homeservers that federate with each other and with nobody else:
each is named ``127.0.0.1:<federation port>`` (an IP literal with a port: no ``.well-known`` or SRV
lookup), serves federation over TLS with a self-signed certificate on 127.0.0.1, and may reach
127.0.0.1 and only it (every other address is in its ``ip_range_blacklist``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYNAPSE_VERSION = "1.163.2"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO_ROOT / ".venv-synapse"
MARKER = ".liaison-synapse-version"
SERVER_NAME = "localhost"

# Limits high enough that a test suite never hits them; the back-off test uses Synapse's defaults.
_RELAXED_LIMIT = {"per_second": 10000, "burst_count": 10000}
RELAXED_RATE_LIMITS: dict[str, object] = {
    "rc_message": _RELAXED_LIMIT,
    "rc_registration": _RELAXED_LIMIT,
    "rc_registration_token_validity": _RELAXED_LIMIT,
    "rc_login": {"address": _RELAXED_LIMIT, "account": _RELAXED_LIMIT, "failed_attempts": _RELAXED_LIMIT},
    "rc_admin_redaction": _RELAXED_LIMIT,
    "rc_joins": {"local": _RELAXED_LIMIT, "remote": _RELAXED_LIMIT},
    "rc_joins_per_room": _RELAXED_LIMIT,
    "rc_3pid_validation": _RELAXED_LIMIT,
    "rc_invites": {"per_room": _RELAXED_LIMIT, "per_user": _RELAXED_LIMIT, "per_issuer": _RELAXED_LIMIT},
    "rc_third_party_invite": _RELAXED_LIMIT,
    "rc_media_create": _RELAXED_LIMIT,
    "rc_federation": {"window_size": 1000, "sleep_limit": 10000, "sleep_delay": 0, "reject_limit": 10000},
    "rc_presence": {"per_user": _RELAXED_LIMIT},
    "rc_delayed_event_mgmt": _RELAXED_LIMIT,
    "rc_reports": _RELAXED_LIMIT,
    "rc_room_creation": _RELAXED_LIMIT,
}


# Outbound blocklist of the federating servers: all of IPv4 except 127.0.0.1, and all of IPv6.
EVERYWHERE_BUT_LOOPBACK = [
    str(net) for net in ipaddress.ip_network("0.0.0.0/0").address_exclude(ipaddress.ip_network("127.0.0.1/32"))
] + ["::/0"]


class SynapseNotInstalled(RuntimeError):
    """The synapse virtualenv is missing or holds another version: run the install command."""


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed_version(venv: Path = DEFAULT_VENV) -> str | None:
    """The version the marker records, or None; the marker is written only after a full install."""
    marker = venv / MARKER
    if not marker.is_file() or not venv_python(venv).exists():
        return None
    return marker.read_text().strip() or None


def install(venv: Path = DEFAULT_VENV, *, quiet: bool = False) -> float:
    """Create ``venv`` and pip-install the pinned Synapse; a no-op when the marker matches.

    The venv is made ``--without-pip`` and filled by the running interpreter's pip (``--python``),
    which needs no ensurepip (Debian ships it separately) and saves bootstrapping a second pip.
    Returns the seconds spent.
    """
    started = time.monotonic()
    if installed_version(venv) == SYNAPSE_VERSION:
        if not quiet:
            print(f"matrix-synapse {SYNAPSE_VERSION} already in {venv}")
        return time.monotonic() - started
    marker = venv / MARKER
    marker.unlink(missing_ok=True)
    if not venv_python(venv).exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip"]
    if subprocess.run([*pip, "--version"], capture_output=True).returncode != 0:
        # No pip next to this interpreter: bootstrap one inside the synapse venv instead.
        subprocess.run([str(venv_python(venv)), "-m", "ensurepip", "--upgrade"], check=True)
        pip = [str(venv_python(venv)), "-m", "pip"]
    else:
        pip = [*pip, "--python", str(venv_python(venv))]
    cmd = [*pip, "install", "--disable-pip-version-check", f"matrix-synapse=={SYNAPSE_VERSION}"]
    if quiet:
        cmd.append("--quiet")
    subprocess.run(cmd, check=True)
    check = subprocess.run(
        [str(venv_python(venv)), "-c", "import synapse; print(synapse.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    # Inside a git checkout Synapse appends the checkout's branch: "1.163.2 (b=main,abc1234)".
    if check.stdout.split(maxsplit=1)[:1] != [SYNAPSE_VERSION]:
        raise SynapseNotInstalled(f"installed synapse reports {check.stdout.strip()!r}")
    marker.write_text(SYNAPSE_VERSION + "\n")
    elapsed = time.monotonic() - started
    if not quiet:
        print(f"matrix-synapse {SYNAPSE_VERSION} installed in {venv} in {elapsed:.1f}s")
    return elapsed


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, even by SIGKILL (Linux), so a killed
    pytest never leaves a homeserver behind."""
    import ctypes
    import signal

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _signing_key() -> str:
    """A fresh ed25519 signing key in Synapse's file format: ``ed25519 <version> <unpadded b64 seed>``."""
    seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    return f"ed25519 a_{secrets.token_hex(2)} {seed}\n"


_SELF_SIGNED = """
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=7))
    .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    .sign(key, hashes.SHA256())
)
open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(sys.argv[2], "wb").write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
))
"""


def _self_signed_certificate(venv: Path, cert: Path, key: Path) -> None:
    """A certificate for 127.0.0.1 for the federation listener, made with the `cryptography` that
    Synapse's own virtualenv holds (the peers' certificates are not checked: see `federation_config`)."""
    subprocess.run([str(venv_python(venv)), "-c", _SELF_SIGNED, str(cert), str(key)], check=True)


def _log_config(log_file: Path, level: str) -> str:
    return json.dumps(
        {
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
            "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "plain"}},
            "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
            "root": {"level": level, "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
    )


@dataclass
class SynapseServer:
    """One throw-away homeserver. ``relaxed=False`` keeps Synapse's default rate limits."""

    relaxed: bool = True
    venv: Path = DEFAULT_VENV
    server_name: str = SERVER_NAME
    log_level: str = "INFO"
    extra_config: dict[str, object] = field(default_factory=dict)
    port: int = 0
    federation_port: int = 0  # non-zero: also serve federation (TLS) there, see `federated_pair`
    federates_with: tuple[str, ...] = ()  # the server names it may federate with
    workdir: Path | None = None
    shared_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    startup_seconds: float = 0.0
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _own_workdir: bool = field(default=False, repr=False)
    _launched_at: float = field(default=0.0, repr=False)
    _admin_token: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "homeserver.log"

    def client_listener(self) -> dict[str, object]:
        """The client-server API, plain HTTP on 127.0.0.1."""
        return {
            "port": self.port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": False,
            "x_forwarded": False,
            "resources": [{"names": ["client"], "compress": False}],
        }

    def config(self) -> dict[str, object]:
        """The homeserver config; JSON is valid YAML, so it is written with ``json``."""
        assert self.workdir is not None
        cfg: dict[str, object] = {
            "server_name": self.server_name,
            "public_baseurl": self.url + "/",
            "pid_file": str(self.workdir / "homeserver.pid"),
            "listeners": [self.client_listener()],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(self.workdir / "homeserver.db")},
            },
            "log_config": str(self.workdir / "log.config"),
            "media_store_path": str(self.workdir / "media_store"),
            "signing_key_path": str(self.workdir / "signing.key"),
            "report_stats": False,
            "enable_registration": False,
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "send_federation": False,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "enable_metrics": False,
            "update_user_directory_from_worker": None,
            "limit_profile_requests_to_users_who_share_rooms": False,
            "require_auth_for_profile_requests": False,
            # Fast password hashing: registration and login in tests should not cost 0.3 s each.
            "bcrypt_rounds": 4,
        }
        if self.relaxed:
            cfg.update(RELAXED_RATE_LIMITS)
        if self.federation_port:
            cfg.update(self.federation_config())
        cfg.update(self.extra_config)
        return cfg

    def federation_config(self) -> dict[str, object]:
        """Federation with the named peers on loopback: a TLS listener on 127.0.0.1 (self-signed, so
        outbound certificates are not verified), 127.0.0.1 let through the blocklist of outbound
        addresses and nothing else, keys fetched from the peers themselves (no trusted key server)."""
        assert self.workdir is not None
        federation = {
            "port": self.federation_port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": True,
            "x_forwarded": False,
            "resources": [{"names": ["federation"], "compress": False}],
        }
        return {
            "listeners": [self.client_listener(), federation],
            "tls_certificate_path": str(self.workdir / "federation.crt"),
            "tls_private_key_path": str(self.workdir / "federation.key"),
            "federation_verify_certificates": False,
            "federation_domain_whitelist": list(self.federates_with),
            "send_federation": True,
            # Every address but 127.0.0.1 is blocked. Not Synapse's default list plus
            # `ip_range_whitelist`: an IP literal in a server name is checked against the blocklist alone.
            "ip_range_blacklist": EVERYWHERE_BUT_LOOPBACK,
        }

    def start(self, timeout: float = 60.0) -> None:
        """Write the config, launch Synapse and wait until the client API answers."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Write the config and launch Synapse without waiting for it (`wait_ready` does)."""
        if installed_version(self.venv) != SYNAPSE_VERSION:
            raise SynapseNotInstalled(
                f"matrix-synapse {SYNAPSE_VERSION} is not installed in {self.venv}; "
                "run `python -m tests.peers.synapse install`"
            )
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="liaison-synapse-"))
            self._own_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self._launched_at = time.monotonic()
        (self.workdir / "signing.key").write_text(_signing_key())
        (self.workdir / "log.config").write_text(_log_config(self.log_file, self.log_level))
        if self.federation_port and not (self.workdir / "federation.crt").exists():
            _self_signed_certificate(self.venv, self.workdir / "federation.crt", self.workdir / "federation.key")
        config_path = self.workdir / "homeserver.yaml"
        config_path.write_text(json.dumps(self.config(), indent=2))
        stdio = (self.workdir / "stdio.log").open("ab")
        self._proc = subprocess.Popen(
            [str(venv_python(self.venv)), "-m", "synapse.app.homeserver", "-c", str(config_path)],
            cwd=self.workdir,
            stdout=stdio,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SYNAPSE_NO_TLS": "1"},
            preexec_fn=_die_with_parent,
        )
        stdio.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the launched Synapse's client API answers; stop it and raise if it never does."""
        assert self._proc is not None, "launch() first"
        deadline = self._launched_at + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"synapse exited with {self._proc.returncode}\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/_matrix/client/versions", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"synapse did not answer within {timeout}s\n{self.log_tail()}")
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - self._launched_at

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate Synapse (SIGTERM, then SIGKILL); the data dir is kept so ``start`` can resume."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def cleanup(self) -> None:
        self.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in (self.workdir / "stdio.log", self.log_file) if self.workdir else ():
            with contextlib.suppress(OSError):
                out.append(f"--- {path.name} ---\n" + "\n".join(path.read_text().splitlines()[-lines:]))
        return "\n".join(out)

    def __enter__(self) -> SynapseServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # --- client-server helpers (stdlib only, so they run before any event loop exists) ---

    def request(
        self, method: str, path: str, body: dict[str, object] | None = None, token: str | None = None
    ) -> dict[str, object]:
        """One JSON request to the homeserver; raises ``urllib.error.HTTPError`` with the body on errors."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise urllib.error.HTTPError(exc.url, exc.code, f"{exc.reason}: {detail}", exc.headers, None) from None

    def register(self, localpart: str, password: str, admin: bool = False) -> tuple[str, str]:
        """Register through the shared-secret admin API; returns ``(user_id, access_token)``."""
        user_id, token, _device = self.register_device(localpart, password, admin)
        return user_id, token

    def register_device(self, localpart: str, password: str, admin: bool = False) -> tuple[str, str, str]:
        """Register; returns ``(user_id, access_token, device_id)`` (an encrypting client needs the device)."""
        nonce = self.request("GET", "/_synapse/admin/v1/register")["nonce"]
        # Synapse's MAC: HMAC-SHA1 over nonce, user, password and admin flag, NUL-separated.
        parts = (str(nonce), localpart, password, "admin" if admin else "notadmin")
        mac = hmac.new(self.shared_secret.encode(), b"\x00".join(p.encode() for p in parts), hashlib.sha1)
        resp = self.request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        return str(resp["user_id"]), str(resp["access_token"]), str(resp["device_id"])

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"

    def admin_token(self) -> str:
        """A server-admin token for admin API calls, registered on first use."""
        if self._admin_token is None:
            self._admin_token = self.register("peer-admin", secrets.token_hex(8), admin=True)[1]
        return self._admin_token

    def exempt_from_ratelimit(self, user_id: str) -> None:
        """Lift message rate limits for one user (e.g. residents in the back-off test, so only the bot
        meets Synapse's defaults)."""
        self.override_message_limit(user_id, per_second=0, burst_count=0)

    def override_message_limit(self, user_id: str, *, per_second: float, burst_count: int) -> None:
        """Set one user's rc_message. Non-zero values touch only the message limit (joins, logins
        keep theirs); zero lifts every limit of that user (Synapse's rule)."""
        path = f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id)}/override_ratelimit"
        body = {"messages_per_second": per_second, "burst_count": burst_count}
        self.request("POST", path, body, token=self.admin_token())


def federated_pair(**kwargs: Any) -> tuple[SynapseServer, SynapseServer]:
    """Two homeservers that federate with each other (and nobody else) over TLS on 127.0.0.1,
    started side by side; each is named ``127.0.0.1:<its federation port>``. The caller cleans up."""
    ports = [free_port(), free_port()]
    while ports[1] == ports[0]:
        ports[1] = free_port()
    names = tuple(f"127.0.0.1:{port}" for port in ports)
    servers = tuple(
        SynapseServer(server_name=name, federation_port=port, federates_with=names, **kwargs)
        for name, port in zip(names, ports, strict=True)
    )
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
    except BaseException:
        for server in servers:
            server.cleanup()
        raise
    return servers[0], servers[1]


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.peers.synapse", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_install = sub.add_parser("install", help="create the synapse virtualenv (idempotent)")
    p_install.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    p_install.add_argument("--quiet", action="store_true")
    p_run = sub.add_parser("run", help="start a throw-away homeserver until Ctrl-C (for trying by hand)")
    p_run.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    p_run.add_argument("--default-limits", action="store_true", help="keep Synapse's default rate limits")
    args = parser.parse_args(argv)
    if args.cmd == "install":
        install(args.venv.resolve(), quiet=args.quiet)
        return 0
    server = SynapseServer(relaxed=not args.default_limits, venv=args.venv.resolve())
    with server:
        print(f"synapse at {server.url} (started in {server.startup_seconds:.1f}s), data in {server.workdir}")
        print(f"registration shared secret: {server.shared_secret}")
        with contextlib.suppress(KeyboardInterrupt):
            while server.running:
                time.sleep(1)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
