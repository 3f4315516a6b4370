"""Personal data helpers: masking, redaction, encryption at rest."""

from __future__ import annotations

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
