"""Personal data: encryption at rest, masking for display, redaction before logging."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

# Mainland mobile numbers and 18-digit resident ID numbers, the personal data people type.
_PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_RE = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")


class Cipher:
    """Encrypts personal fields with a Fernet key; ``blind_index`` finds them without decrypting."""

    def __init__(self, key: str) -> None:
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

    def blind_index(self, value: str) -> str:
        """A keyed hash for equality lookups (e.g. 'is this phone already registered')."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


def load_or_create_key(configured: str, data_dir: Path) -> str:
    """The configured key, or one generated once into ``data_dir/data.key`` (mode 0600)."""
    if configured:
        Fernet(configured.encode())  # validates; raises ValueError on a malformed key
        return configured
    path = data_dir / "data.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


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
