"""Who may say what on the broker: Mosquitto's ``acl_file`` and ``password_file`` for the fleet.

The broker is the only thing between a till and every other till's topics, so its access list
follows the topic scheme (``protocol.topics``) exactly:

- a till (broker user = its device id, unique in the tenant) may **write** only its own uplink
  ``tf/v1/{store}/{device}/up/+`` and its own retained ``…/status`` (also its Last Will), and
  **read** only its own, its store's and the fleet's downlink;
- HQ's ingest user reads every uplink (its ``$share`` subscription included) and every status,
  and writes the two documents ingest sends a till: ``down/ack`` and ``down/command``;
- HQ's publisher user writes downlink documents at every scope.

Mosquitto's ``acl_file`` never checks a SUBSCRIBE (2.0's ``acl_file`` returns success for it);
it checks every message *delivered* against the receiver's ``read`` grants, retained ones and
those of a ``$share/{group}/…`` subscription included, using the message's own topic. So the
ingest user needs no ``$share`` line, and a till that subscribes to ``#`` is granted the
subscription but receives nothing it may not read. A publish without a ``write`` grant is
dropped; an MQTT 5 client gets PUBACK reason 0x87 "not authorized" for QoS 1.

Grants that differ per till name its store, so they are ``user`` blocks: a ``%u`` pattern such
as ``tf/v1/+/%u/up/+`` would let a till write under any store's copy of its own id. The one grant
that is the same for every user, reading fleet-wide documents, is a ``pattern`` line (Mosquitto
logs a warning that it holds no ``%u``/``%c``; that is intended). Everything not granted is
denied. Downlink grants end in ``down/+``: the scheme has exactly one level after ``down``.

Passwords: each broker user's password is derived from one HQ secret (HMAC-SHA256 of the user
name), so nothing per device is stored, ``fleet broker-config`` can rewrite the files at any
time, and ``fleet broker-password USER`` can tell a technician what to put in a till's
``[sync] password_file``. The password file holds Mosquitto's own PBKDF2-SHA512 format
(``$7$iterations$salt$hash``), written here and checked against ``mosquitto_passwd`` by the
tests, so HQ needs no Mosquitto tools installed. A line whose password did not change is kept
as it was, so regenerating the file changes only what changed.

Production path: client certificates. A TLS listener with ``require_certificate true`` and
``use_identity_as_username true`` makes the certificate's common name (the device id, issued by
the fleet's CA at enrollment) the broker user, and the same ``acl_file`` applies unchanged; the
password file then only serves listeners without client certificates. Add
``use_username_as_clientid true`` there too once every HQ service has its own identity: it
stops one authenticated user from taking over another's session by reusing its client id.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import grp
import hashlib
import hmac
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from fleet import config as fleet_config
from fleet.clikit import config_option
from fleet.db import Connection, DatabaseError, DeviceKey, Dialect, connect
from protocol import topics
from protocol.errors import TopicError

INGEST_USER = "hq-ingest"
"""Default broker user of the ingest workers (``[broker] username`` of their config wins)."""
PUBLISHER_USER = "hq-publisher"
"""Broker user of the downlink publisher."""

ACL_FILE = "tillfleet.acl"
PASSWORD_FILE = "tillfleet.passwd"
CONF_FILE = "tillfleet.conf"
SECRET_FILE = "broker.secret"
"""Default name of the secret in HQ's key directory."""

PBKDF2_ITERATIONS = 101
"""Mosquitto's own default. The passwords are 256-bit random values, so more iterations would
only cost the broker CPU on every CONNECT without making a guess any likelier."""
SALT_BYTES = 12
"""What ``mosquitto_passwd`` uses."""
SECRET_BYTES = 32
_DERIVE_DOMAIN = b"tillfleet broker password v1\n"
_PG_REGISTER_LOCK = 0x54464252  # "TFBR": serialises device registrations on PostgreSQL
_FILE_MODE = 0o640


class BrokerConfigError(Exception):
    """The broker's users or files cannot be made as asked; the message says why."""


# -- devices ---------------------------------------------------------------------------------


def register_device(
    conn: Connection, tenant: str, store: str, device: str, *, now: dt.datetime
) -> bool:
    """Register till ``store/device`` so it gets a broker user; True if it was new.

    The device id is its broker user name, so it must be unique in the tenant: registering an
    id that another store already has is refused, as is an id that names an HQ service user.
    Registering the same till again changes nothing. ``first_seen_at``/``last_seen_at`` start at
    the registration time (the columns are required); ingest moves ``last_seen_at`` on.
    """
    try:
        topics.validate_id(tenant, "tenant")
        topics.validate_store(store)
        topics.validate_id(device, "device id")
    except TopicError as exc:
        raise BrokerConfigError(str(exc)) from None
    if device in (INGEST_USER, PUBLISHER_USER):
        raise BrokerConfigError(f"device id {device!r} is the name of an HQ broker user")
    with conn.transaction():
        if conn.dialect is Dialect.POSTGRES:
            # A unique index cannot say "device unique per tenant" beside the (tenant, store,
            # device) key without a migration; the lock makes check-then-insert atomic.
            conn.execute("SELECT pg_advisory_xact_lock(?)", [_PG_REGISTER_LOCK])
        other = conn.one(
            "SELECT store FROM devices WHERE tenant = ? AND device = ? AND store <> ?",
            [tenant, device, store],
        )
        if other is not None:
            raise BrokerConfigError(
                f"device id {device!r} is already registered in store {other['store']!r}; "
                "a device id is the till's broker user and must be unique in the tenant"
            )
        return conn.insert(
            "devices",
            {
                "tenant": tenant,
                "store": store,
                "device": device,
                "first_seen_at": now,
                "last_seen_at": now,
            },
            on_conflict_nothing=True,
        )


def registered_devices(conn: Connection, tenant: str) -> list[DeviceKey]:
    """Every till of ``tenant`` HQ knows (registered, or seen by ingest), by store and device."""
    rows = conn.execute(
        "SELECT tenant, store, device FROM devices WHERE tenant = ? ORDER BY store, device",
        [tenant],
    )
    return [DeviceKey(r["tenant"], r["store"], r["device"]) for r in rows]


def device_users(
    devices: Iterable[DeviceKey], *, service_users: Iterable[str] = ()
) -> dict[str, DeviceKey]:
    """Broker user name -> till; refuses ids used twice or clashing with a service user.

    Ingest creates a devices row for any till that publishes on an open broker, so a database
    can hold the same id in two stores; such a fleet cannot be given per-device users until one
    is renamed, and saying so beats an ACL that silently lets one till act as the other.
    """
    users: dict[str, DeviceKey] = {}
    services = set(service_users)
    clashes: list[str] = []
    for key in sorted(devices):
        if key.device in services:
            clashes.append(f"{key.store}/{key.device} is named like an HQ service user")
        elif key.device in users:
            first = users[key.device]
            clashes.append(f"{key.device!r} is in stores {first.store!r} and {key.store!r}")
        else:
            users[key.device] = key
    if clashes:
        raise BrokerConfigError(
            "device ids must be unique broker users in the tenant: " + "; ".join(clashes)
        )
    return users


# -- the secret and the passwords derived from it ----------------------------------------------


def create_secret(path: Path) -> bytes:
    """Make a new broker secret at ``path`` (``0600``, never overwriting) and return it."""
    secret = os.urandom(SECRET_BYTES)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BrokerConfigError(f"{path} exists; a broker secret is never overwritten") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(base64.urlsafe_b64encode(secret).decode("ascii") + "\n")
        f.flush()
        os.fsync(f.fileno())
    return secret


def load_secret(path: Path) -> bytes:
    """Read the broker secret; refused if missing, malformed or readable by group or others."""
    try:
        mode = path.stat().st_mode
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        raise BrokerConfigError(f"no broker secret at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerConfigError(f"cannot read the broker secret {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BrokerConfigError(f"{path} is accessible by group or others; chmod 600 it")
    try:
        secret = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise BrokerConfigError(f"{path} does not hold a {SECRET_BYTES}-byte base64url secret")
    return secret


def derive_password(secret: bytes, username: str) -> str:
    """The broker password of ``username``: base64url HMAC-SHA256, 43 characters."""
    mac = hmac.new(secret, _DERIVE_DOMAIN + username.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


# -- Mosquitto's password hash ------------------------------------------------------------------


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS
) -> str:
    """``$7$iterations$salt$hash``: Mosquitto 2's PBKDF2-SHA512 line format (after ``user:``).

    A password with a NUL character is refused: Mosquitto reads passwords as C strings, so it
    would check only what comes before the NUL — and HMAC pads a short key with zero bytes, so
    even this hash could not tell ``""`` from ``"\\0"``."""
    if "\x00" in password:
        raise ValueError("a broker password cannot contain a NUL character")
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``encoded`` (a ``$7$`` hash) is a hash of ``password``; False for anything else
    (a password with a NUL character included: no hash is of one)."""
    if "\x00" in password:
        return False
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7" or not parts[2].isdigit():
        return False
    iterations = int(parts[2])
    if not 1 <= iterations <= 10_000_000:
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(digest, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_password_file(text: str) -> dict[str, str]:
    """``user -> hash`` of a Mosquitto password file (comments and blank lines skipped)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or ":" not in line:
            continue
        user, _, encoded = line.partition(":")
        found[user] = encoded.strip()
    return found


# -- the files ---------------------------------------------------------------------------------


def acl_text(
    devices: Iterable[DeviceKey],
    *,
    tenant: str,
    ingest_user: str = INGEST_USER,
    publisher_user: str = PUBLISHER_USER,
) -> str:
    """The ``acl_file`` for ``devices`` and HQ's two service users (see the module docstring)."""
    for service in (ingest_user, publisher_user):
        try:
            topics.validate_id(service, "HQ broker user")  # safe in the ACL's `user` lines
        except TopicError as exc:
            raise BrokerConfigError(str(exc)) from None
    if ingest_user == publisher_user:
        raise BrokerConfigError("the ingest and publisher broker users must differ")
    users = device_users(devices, service_users=(ingest_user, publisher_user))
    p = topics.PREFIX
    lines = [
        f"# Mosquitto acl_file of tillfleet tenant {tenant!r}, written by `fleet broker-config`.",
        "# Do not edit: regenerate it. Anything not granted here is denied.",
        "",
        "# Every user may read fleet-wide documents.",
        f"pattern read {p}/{topics.FLEET_SCOPE}/down/+",
        "",
        "# HQ ingest: every uplink (its $share subscription included) and status; acks and",
        "# commands to single tills.",
        f"user {ingest_user}",
        f"topic read {p}/+/+/up/+",
        f"topic read {p}/+/+/status",
        f"topic write {p}/+/+/down/ack",
        f"topic write {p}/+/+/down/command",
        "",
        "# HQ publisher: documents at every scope (device, store and fleet).",
        f"user {publisher_user}",
        f"topic write {p}/+/+/down/+",
        f"topic write {p}/+/down/+",
        "",
    ]
    for user, key in sorted(users.items(), key=lambda item: (item[1].store, item[1].device)):
        lines += [
            f"# till {key.store}/{key.device}",
            f"user {user}",
            f"topic write {p}/{key.store}/{key.device}/up/+",
            f"topic write {p}/{key.store}/{key.device}/status",
            f"topic read {p}/{key.store}/{key.device}/down/+",
            f"topic read {p}/{key.store}/down/+",
            "",
        ]
    return "\n".join(lines)


def password_file_text(
    passwords: Mapping[str, str], previous: Mapping[str, str] | None = None
) -> str:
    """A Mosquitto password file for ``user -> password``, sorted by user.

    A user whose hash in ``previous`` still matches its password keeps that line, so rewriting
    the file leaves unchanged users byte for byte as they were.
    """
    lines = []
    for user in sorted(passwords):
        if ":" in user or "\n" in user or not user:
            raise BrokerConfigError(f"{user!r} cannot be a broker user name")
        old = None if previous is None else previous.get(user)
        encoded = (
            old
            if old is not None and verify_password(passwords[user], old)
            else hash_password(passwords[user])
        )
        lines.append(f"{user}:{encoded}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """What :func:`write_broker_files` wrote."""

    acl_file: Path
    password_file: Path
    conf_file: Path
    """``allow_anonymous false`` plus the two paths: include it from ``mosquitto.conf``."""
    users: tuple[str, ...]


def write_broker_files(
    out_dir: Path,
    devices: Iterable[DeviceKey],
    secret: bytes,
    *,
    tenant: str,
    ingest_user: str = INGEST_USER,
    publisher_user: str = PUBLISHER_USER,
    group: str | None = None,
) -> BrokerFiles:
    """Write the ACL, password file and config snippet into ``out_dir``.

    Each file is replaced atomically (a broker reloading on SIGHUP mid-write sees the old file
    or the new one, never half of one), mode ``0640``; ``group`` makes them the broker's group
    (e.g. ``mosquitto``), because Mosquitto reads them after dropping root.
    """
    devices = list(devices)
    acl = acl_text(devices, tenant=tenant, ingest_user=ingest_user, publisher_user=publisher_user)
    users = [ingest_user, publisher_user, *(key.device for key in devices)]
    gid = -1
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise BrokerConfigError(f"there is no group {group!r} on this machine") from None
    out_dir = out_dir.absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    acl_path, pw_path, conf_path = out_dir / ACL_FILE, out_dir / PASSWORD_FILE, out_dir / CONF_FILE
    try:
        previous = parse_password_file(pw_path.read_text("utf-8"))
    except FileNotFoundError:
        previous = {}
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerConfigError(f"cannot read {pw_path}: {exc}") from None
    passwords = {user: derive_password(secret, user) for user in users}
    conf = "\n".join(
        [
            "# tillfleet broker access, written by `fleet broker-config`; include it from",
            "# mosquitto.conf (inside the listener when per_listener_settings is true).",
            "allow_anonymous false",
            f"password_file {pw_path}",
            f"acl_file {acl_path}",
            "",
        ]
    )
    _replace(pw_path, password_file_text(passwords, previous), gid)
    _replace(acl_path, acl, gid)
    _replace(conf_path, conf, gid)
    return BrokerFiles(acl_path, pw_path, conf_path, tuple(sorted(users)))


def _replace(path: Path, text: str, gid: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), _FILE_MODE)  # the umask must not widen or narrow it
            if gid != -1:
                os.fchown(f.fileno(), -1, gid)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- command line (registered on `fleet` by fleet.cli) -------------------------------------------


def _load_config(path: Path) -> fleet_config.FleetConfig:
    try:
        return fleet_config.load(path)
    except fleet_config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _secret_path(cfg: fleet_config.FleetConfig, given: Path | None) -> Path:
    return given if given is not None else cfg.keys.dir / SECRET_FILE


def _ingest_user(cfg: fleet_config.FleetConfig) -> str:
    return cfg.broker.username or INGEST_USER


_config_option = config_option(
    "The fleet TOML file (tenant, database, key directory, ingest's broker user)."
)
_secret_option = click.option(
    "--secret",
    "secret_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"The broker secret (default: {SECRET_FILE} in the [keys] dir).",
)


@click.command("broker-config")
@_config_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help=f"Where to write {ACL_FILE}, {PASSWORD_FILE} and {CONF_FILE}.",
)
@_secret_option
@click.option("--group", help="Group the broker runs as (e.g. mosquitto); it must read the files.")
@click.option("--publisher-user", default=PUBLISHER_USER, show_default=True)
@click.option(
    "--new-secret",
    is_flag=True,
    help="Make a new secret although tills are registered (every till's password changes).",
)
def broker_config_command(
    *,
    config_path: Path,
    out_dir: Path,
    secret_path: Path | None,
    group: str | None,
    publisher_user: str,
    new_secret: bool,
) -> None:
    """Write Mosquitto's acl_file and password_file for every registered till and HQ service.

    Reload the broker afterwards (SIGHUP) to apply them.
    """
    cfg = _load_config(config_path)
    path = _secret_path(cfg, secret_path)
    try:
        with connect(cfg.db_url) as conn:
            devices = registered_devices(conn, cfg.tenant)
        if path.exists():
            if new_secret:
                raise BrokerConfigError(f"{path} exists; move it away first to make a new one")
            secret = load_secret(path)
        elif devices and not new_secret:
            raise BrokerConfigError(
                f"no broker secret at {path}, but {len(devices)} tills are registered: restore "
                "it from a backup (their passwords derive from it), or pass --new-secret and "
                "give every till its new password"
            )
        else:
            secret = create_secret(path)
            click.echo(f"made a new broker secret {path}; back it up", err=True)
        ingest_user = _ingest_user(cfg)
        files = write_broker_files(
            out_dir,
            devices,
            secret,
            tenant=cfg.tenant,
            ingest_user=ingest_user,
            publisher_user=publisher_user,
            group=group,
        )
    except (BrokerConfigError, DatabaseError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if cfg.broker.password is not None and cfg.broker.password != derive_password(
        secret, ingest_user
    ):
        click.echo(
            f"warning: [broker] password of {config_path} is not {ingest_user}'s broker "
            f"password; see `fleet broker-password {ingest_user}`",
            err=True,
        )
    click.echo(f"{len(devices)} tills, {len(files.users)} broker users")
    for written in (files.acl_file, files.password_file, files.conf_file):
        click.echo(f"wrote {written}")


@click.command("register-device")
@_config_option
@click.argument("store")
@click.argument("device")
def register_device_command(config_path: Path, store: str, device: str) -> None:
    """Register till DEVICE of STORE, so `fleet broker-config` gives it a broker user."""
    cfg = _load_config(config_path)
    try:
        with connect(cfg.db_url) as conn:
            new = register_device(conn, cfg.tenant, store, device, now=dt.datetime.now(dt.UTC))
    except (BrokerConfigError, DatabaseError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"registered {store}/{device}" if new else f"{store}/{device} was registered")


@click.command("broker-password")
@_config_option
@_secret_option
@click.argument("user")
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write it to this new file (mode 0600, for a till's [sync] password_file).",
)
def broker_password_command(
    config_path: Path, secret_path: Path | None, user: str, out_path: Path | None
) -> None:
    """Print the broker password of USER: a registered till's device id or an HQ service user."""
    cfg = _load_config(config_path)
    try:
        with connect(cfg.db_url) as conn:
            devices = registered_devices(conn, cfg.tenant)
        known = {_ingest_user(cfg), PUBLISHER_USER, *(key.device for key in devices)}
        if user not in known:
            raise BrokerConfigError(
                f"{user!r} is neither a registered till nor an HQ broker user "
                "(register it with `fleet register-device`)"
            )
        password = derive_password(load_secret(_secret_path(cfg, secret_path)), user)
        if out_path is None:
            click.echo(password)
            return
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(password + "\n")
    except FileExistsError:
        raise click.ClickException(f"{out_path} exists; it is never overwritten") from None
    except (BrokerConfigError, DatabaseError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {out_path}", err=True)


COMMANDS = (broker_config_command, register_device_command, broker_password_command)
"""What ``fleet.cli`` adds to ``fleet``."""
