"""QR codes drawn by the console itself (the CSP allows no outside images): the check-in
sheet's code and the code an operator scans to bind their WeChat."""

from __future__ import annotations

import base64
import io

import qrcode


def qr_data_uri(text: str) -> str:
    """A PNG QR code of ``text`` as a data: URI."""
    image = qrcode.make(text, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
