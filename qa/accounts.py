"""Accounts for the served app: who may sign in, and whether they may change the collection.

An accounts file holds one account a line, ``user:role:password-hash``; blank
lines and lines starting with ``#`` are ignored::

    # made with `qa adduser accounts.txt alice --role editor`
    alice:editor:scrypt$16384$8$1$<salt>$<key>
    bob:reader:scrypt$16384$8$1$<salt>$<key>

The hash is the standard library's scrypt with a random 16-byte salt per
password (both base64), so the file reveals no password and two equal
passwords look different. An ``editor`` may change the documents and run
evaluations; a ``reader`` may ask. ``qa serve --auth FILE`` reads the file,
and reads it again when it changes, so ``qa adduser`` needs no restart.

This module needs no Gradio: ``qa adduser`` stays quick. The app's side, the
role check its handlers make, is ``qa.app.auth``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from qa.errors import UserError

log = logging.getLogger(__name__)

EDITOR, READER = "editor", "reader"
ROLES = (EDITOR, READER)
MIN_PASSWORD = 8  # characters; a served app is reachable from a team's network
# scrypt cost: 2**14 x 8 x 128 bytes = 16 MiB and ~50 ms a check on this project's 2 cores (the
# parameters Python's docs and OWASP give for interactive logins); stored with each hash, so they can rise.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MAXMEM = 64 * 2**20  # refuses a hash whose stored parameters would need more memory than this
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class AccountsError(UserError):
    """An accounts file cannot be used as given; the message names the file (and line) and what to do."""


@dataclass(frozen=True)
class Account:
    user: str
    role: str
    password_hash: str


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$key``, salt and key in base64; a new random salt unless one is given."""
    salt = secrets.token_bytes(16) if salt is None else salt
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)])


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from (compared in constant time)."""
    try:
        n, r, p, salt, key = _parse_hash(password_hash)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(key)), key)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=length)


def _parse_hash(password_hash: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, n, r, p, salt, key = password_hash.split("$")
    if scheme != "scrypt" or not (n.isdigit() and r.isdigit() and p.isdigit()):
        raise ValueError("not an scrypt hash")
    n_, r_, p_ = int(n), int(r), int(p)
    if n_ < 2 or n_ & (n_ - 1) or not 1 <= r_ <= 64 or not 1 <= p_ <= 16 or 128 * n_ * r_ > SCRYPT_MAXMEM // 2:
        raise ValueError("scrypt parameters out of range")
    salt_, key_ = base64.b64decode(salt, validate=True), base64.b64decode(key, validate=True)
    if len(salt_) < 8 or len(key_) < 16:
        raise ValueError("salt or key too short")
    return n_, r_, p_, salt_, key_


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# A hash checked for unknown users, so a wrong user name takes as long to refuse as a wrong password.
_DUMMY_HASH = "scrypt$16384$8$1$" + _b64(b"qa-offline-dummy") + "$" + _b64(bytes(32))


def check_user(user: str) -> str:
    if not _USER.fullmatch(user):
        raise AccountsError(
            f"{user!r} cannot be a user name: use up to 64 letters, digits and . _ @ -, starting with a letter or digit"
        )
    return user


# -- the file -----------------------------------------------------------------------------------


def read_accounts(path: Path | str) -> dict[str, Account]:
    """Every account of the file, by user name; ``AccountsError`` naming the file and line of any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AccountsError(f"{path}: no such accounts file: make one with `qa adduser {path} USER`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountsError(f"{path}: cannot be read as a UTF-8 accounts file ({exc})") from None
    accounts = _parse(text, path)
    if not accounts:
        raise AccountsError(f"{path}: no accounts: add one with `qa adduser {path} USER --role editor`")
    return accounts


def _parse(text: str, path: Path) -> dict[str, Account]:
    accounts: dict[str, Account] = {}
    for number, line in enumerate(text.splitlines(), 1):
        account = _parse_line(line, f"{path}:{number}")
        if account is None:
            continue
        if account.user in accounts:
            raise AccountsError(f"{path}:{number}: {account.user} has a second line: keep one")
        accounts[account.user] = account
    return accounts


def _parse_line(line: str, where: str) -> Account | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    parts = line.split(":", 2)
    if len(parts) != 3:
        raise AccountsError(f"{where}: expected user:role:password-hash, as `qa adduser` writes")
    user, role, password_hash = parts
    if not _USER.fullmatch(user):
        raise AccountsError(f"{where}: {user!r} is not a valid user name")
    if role not in ROLES:
        raise AccountsError(f"{where}: unknown role {role!r}: use {' or '.join(ROLES)}")
    try:
        _parse_hash(password_hash)
    except ValueError:
        raise AccountsError(f"{where}: the password hash is not one `qa adduser` writes: set it again") from None
    return Account(user, role, password_hash)


def add_account(path: Path | str, user: str, role: str, password: str) -> bool:
    """Add ``user`` to the accounts file (made if missing), or give an existing one this role and password.

    Returns whether the user was already there. The file is rewritten whole and
    atomically, readable by its owner only; its comments and other lines stay.
    """
    path = Path(path)
    check_user(user)
    if role not in ROLES:
        raise AccountsError(f"unknown role {role!r}: use {' or '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountsError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    _parse(text, path)  # a damaged file is reported, not rewritten
    lines = text.splitlines()
    entry = f"{user}:{role}:{hash_password(password)}"
    found = [i for i, line in enumerate(lines) if line.strip().split(":", 1)[0] == user]
    if found:
        lines[found[0]] = entry
    else:
        lines.append(entry)
    if not path.parent.is_dir():
        raise AccountsError(f"{path.parent}: no such folder for the accounts file")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return bool(found)


# Password guessing: after MAX_FAILURES wrong passwords for one user name within FAILURE_WINDOW seconds,
# sign-ins as that user are refused, right password or not, until the window has passed. Gradio's login
# tells us the user name only (not the address), so the pause is per name; scrypt already costs a guess
# about 0.1 s of CPU.
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
FAILURE_NAMES = 10_000  # names with recent failures kept; beyond it the oldest are forgotten


class Accounts:
    """The accounts of a running app, read from their file; read again whenever the file changes.

    A file that breaks while the app runs is logged and the accounts read last
    are kept: a slip in an edit does not lock everyone out. ``check`` is what
    Gradio's login calls (``launch(auth=accounts.check)``); a user name with
    ``MAX_FAILURES`` recent wrong passwords is refused for ``FAILURE_WINDOW`` seconds.
    """

    def __init__(self, path: Path | str, clock=time.monotonic):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._accounts = read_accounts(self.path)  # a bad file stops the app before it starts
        self._stamp = self._stat()
        self._clock = clock
        self._failures: dict[str, list[float]] = {}

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _current(self) -> dict[str, Account]:
        stamp = self._stat()
        with self._lock:
            if stamp is not None and stamp != self._stamp:
                try:
                    self._accounts = read_accounts(self.path)
                except AccountsError as exc:
                    log.warning("keeping the accounts read before: %s", exc)
                self._stamp = stamp
            return self._accounts

    def role(self, user: str | None) -> str | None:
        """``user``'s role, or None for anyone without an account (or signed out)."""
        account = self._current().get(user or "")
        return account.role if account else None

    def verify(self, user: str, password: str) -> bool:
        if self.paused(user):
            log.warning("sign-in as %r refused: %d wrong passwords in %.0f s", user, MAX_FAILURES, FAILURE_WINDOW)
            return False
        account = self._current().get(user)
        matches = verify_password(password, account.password_hash if account else _DUMMY_HASH)
        ok = matches and account is not None
        with self._lock:
            if ok:
                self._failures.pop(user, None)
            else:
                self._failures.setdefault(user, []).append(self._clock())
                if len(self._failures) > FAILURE_NAMES:
                    del self._failures[next(iter(self._failures))]
        return ok

    def paused(self, user: str) -> bool:
        """Whether sign-ins as ``user`` are refused for now (too many recent wrong passwords)."""
        with self._lock:
            recent = [t for t in self._failures.get(user, []) if self._clock() - t < FAILURE_WINDOW]
            if recent:
                self._failures[user] = recent
            else:
                self._failures.pop(user, None)
            return len(recent) >= MAX_FAILURES

    async def check(self, user: str, password: str) -> bool:
        """Gradio's login check; the hash is worked out on a thread, so the server answers others meanwhile."""
        return await asyncio.to_thread(self.verify, user, password)


# -- where the app may be served open -----------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost); a name or 0.0.0.0 is not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def require_safe_host(host: str, accounts: Accounts | None, open_to_network: bool) -> None:
    """Refuse to serve without accounts on an address other machines can reach, unless asked to explicitly."""
    if accounts is None and not open_to_network and not is_loopback(host):
        raise AccountsError(
            f"not serving on {host} without accounts, where anyone who reaches it could change the documents: "
            "give --auth FILE (see `qa adduser --help`), or --no-auth to serve it open anyway"
        )
