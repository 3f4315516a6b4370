"""Personal data: encryption at rest, masking for display, redaction before logging."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

# Mainland mobile numbers and 18-digit resident ID numbers, the personal data people type.
_PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_RE = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")
KEY_FILE = "data.key"


def key_id(key: str) -> str:
    """A short public name of a data key: a one-way digest, safe to store and print."""
    return hashlib.sha256(b"campaign-bot data key id:" + key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class KeySource:
    """Where the data key came from. ``generated``: no key was configured and no key file
    exists; the key is written to ``path`` only once the database proves to hold no data
    (``bot.keys.check_data_key``), so a lost key file is never silently replaced."""

    key: str
    origin: str
    path: Path | None = None
    generated: bool = False


class Cipher:
    """Encrypts personal fields with a Fernet key; ``blind_index`` finds them without decrypting."""

    def __init__(self, key: str, source: KeySource | None = None) -> None:
        self.key_id = key_id(key)
        self.source = source or KeySource(key, "the given key")
        self._fernet = Fernet(key.encode())
        # A separate derived key for the HMAC index, so the index leaks nothing about the cipher.
        self._index_key = hashlib.sha256(b"blind-index:" + key.encode()).digest()

    def encrypt(self, value: str) -> str:
        """Ciphertext (ASCII) of ``value``."""
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Plaintext of a value from ``encrypt``; raises ValueError on a wrong key."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("cannot decrypt: wrong data key or corrupted value") from None

    def reveal(self, token: str, unreadable: str, mask: Callable[[str], str] | None = None) -> str:
        """Plaintext of ``token`` (through ``mask``), or ``unreadable`` when it cannot be
        decrypted (written under another key, or damaged): lists and pages show that label
        instead of failing."""
        try:
            plain = self.decrypt(token)
        except ValueError:
            return unreadable
        return mask(plain) if mask else plain

    def can_decrypt(self, token: str) -> bool:
        """Whether ``token`` was encrypted with this key."""
        try:
            self._fernet.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def blind_index(self, value: str) -> str:
        """A keyed hash for equality lookups (e.g. 'is this phone already registered')."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (0700), created if missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)  # created by an older version with the default mode
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` readable by the owner only (0600) from its first byte:
    a temporary file (mkstemp creates 0600) renamed over the target, in a 0700 folder."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_key(configured: str, data_dir: Path) -> KeySource:
    """The configured key, the one in ``data_dir/data.key``, or a new one not yet written."""
    if configured:
        Fernet(configured.encode())  # validates; raises ValueError on a malformed key
        return KeySource(configured, "security.data_key (BOT_SECURITY_DATA_KEY)")
    path = data_dir / KEY_FILE
    if path.exists():
        return KeySource(path.read_text().strip(), str(path), path)
    return KeySource(Fernet.generate_key().decode(), str(path), path, generated=True)


def create_key_file(path: Path, key: str) -> bool:
    """Write ``key`` to ``path``, created 0600 in one call (no window with a readable file);
    False when the file exists already (O_EXCL: never over another key)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return True


def mask_phone(phone: str) -> str:
    """138****5678 for display in lists and replies."""
    if len(phone) == 11 and phone.isdigit():
        return f"{phone[:3]}****{phone[7:]}"
    if len(phone) <= 4:
        return "*" * len(phone)
    return phone[:2] + "*" * (len(phone) - 4) + phone[-2:]


def mask_name(name: str) -> str:
    """张*三 style: keep the first and last character."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def redact(text: str) -> str:
    """``text`` with phone and ID numbers masked, safe for logs and the message log."""
    text = _PHONE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _ID_RE.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
