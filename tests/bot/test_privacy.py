"""Personal data helpers: masking, redaction, encryption at rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.kernel.privacy import Cipher, mask_name, mask_phone, redact
from tests.conftest import DATA_KEY


def test_masks() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧**娜"


def test_redact_masks_phones_and_id_numbers() -> None:
    text = redact("电话13812345678，身份证110101199003071234，谢谢")
    assert "13812345678" not in text and "110101199003071234" not in text
    assert text.startswith("电话138****5678") and text.endswith("谢谢")


def test_cipher_round_trip_and_wrong_key() -> None:
    cipher = Cipher(DATA_KEY)
    token = cipher.encrypt("13812345678")
    assert "13812345678" not in token and cipher.decrypt(token) == "13812345678"
    assert cipher.blind_index("13812345678") == Cipher(DATA_KEY).blind_index("13812345678")
    other = Cipher("x" * 43 + "=")
    with pytest.raises(ValueError):
        other.decrypt(token)


def test_generated_key_file_is_never_readable_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Created 0600 in one call: even without any chmod afterwards (issue 15, defect 5)."""
    import os
    import stat

    from bot.kernel.privacy import create_key_file, load_key

    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    source = load_key("", tmp_path / "data")
    assert source.generated and source.path is not None and not source.path.exists()
    old = os.umask(0)
    try:
        assert create_key_file(source.path, source.key)
    finally:
        os.umask(old)
    assert stat.S_IMODE(source.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert not create_key_file(source.path, "another")  # never over an existing key
    again = load_key("", tmp_path / "data")
    assert again.key == source.key and not again.generated
