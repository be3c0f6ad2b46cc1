"""Verification codes (验证码) of certificates: 100 random bits written in Crockford's base32.

A code is 20 characters from an alphabet without I, L, O and U, so it can be read aloud and typed from
paper. It is stored normalised (upper case, no separators) in ``Certificate.code`` and shown in five
groups of four: ``K7QM-3XPA-9DRT-W2HB-6NCE``. People type what they see, so :func:`normalise_code`
accepts spaces, dashes, either case and the letters Crockford reads as digits (O → 0, I and L → 1).
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 20  # 20 × 5 bits = 100 bits of randomness
GROUP = 4
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_.·—–]+")
_VALID = re.compile(f"^[{ALPHABET}]{{{LENGTH}}}$")


def new_code() -> str:
    """A fresh random code, normalised (as stored)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise_code(typed: str | None) -> str | None:
    """The stored form of a typed code, or ``None`` when it cannot be one of ours."""
    if not typed:
        return None
    text = _SEPARATORS.sub("", typed.strip()).upper().translate(_CONFUSABLE)
    return text if _VALID.match(text) else None


def group_code(code: str) -> str:
    """``K7QM3XPA…`` → ``K7QM-3XPA-…`` (how a code is printed and linked)."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def verification_url(base_url: str, code: str) -> str:
    """The public page a certificate's QR code points to."""
    return f"{base_url.rstrip('/')}/verify/{group_code(code)}"
