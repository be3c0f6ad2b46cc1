"""Text as it is printed: names on certificates and statements, and every cell of an uploaded roster.

A name is printed on a certificate that anyone can verify, so what it shows must be what it is: invisible
characters could make two different names look the same, or (bidi controls) make the printed name read in another
order than it was typed. :func:`visible_text` is the one place that removes them; every path where a name enters
(the buy form and the JSON API, the planting forms and rosters, the back-office's holders) goes through it.
"""

from __future__ import annotations

import re
import unicodedata

# Bidi controls (U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069), zero-width characters (U+200B–U+200D,
# U+2060, U+FEFF), the rest of the invisible formatting blocks around them, and C0/DEL control characters.
_INVISIBLE = re.compile(r"[\u061c\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff\x00-\x08\x0b-\x1f\x7f]")


def visible_text(text: str, *, fold: bool = False) -> str:
    """``text`` with invisible characters removed and runs of white space collapsed to one space. A name keeps its
    own characters (an official name's full-width brackets stay full-width); ``fold=True`` also folds to the
    compatibility form (NFKC: full-width letters and digits become ordinary ones), for roster cells that hold ID
    numbers typed on a Chinese keyboard."""
    if fold:
        text = unicodedata.normalize("NFKC", text)
    return " ".join(_INVISIBLE.sub("", text).split())
