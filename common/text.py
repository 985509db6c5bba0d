"""Text from people, compared the way people read it.

- ``username_key``: the one form of a username, used at creation and at sign-in (NFKC, then Unicode case folding,
  then NFKC again: U+017F "long s" + "am", "SAM" and "sam" are one account, and one failure budget);
- ``unprintable``: the control, format (zero-width, bidirectional), surrogate, private-use and unassigned characters
  of a name — refused wherever a name is given;
- ``skeleton``: what a name looks like (Unicode TR39 confusables, from the maintained ``confusable_homoglyphs`` data):
  "Green Party" spelt with a Cyrillic U+0435 and a zero-width space has the skeleton of "green party", so quotas
  cannot be dodged with look-alike names.
"""

from __future__ import annotations

import functools
import unicodedata

from confusable_homoglyphs import confusables

#: General categories never allowed in a name: Cc control, Cf format (zero-width, bidi), Cs surrogate, Co private
#: use, Cn unassigned. Spaces (Zs) are allowed; line and paragraph separators (Zl, Zp) are not.
UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def username_key(raw: str) -> str:
    """The canonical form of a username (NFKC case folding), a fixed point: ``username_key`` of a key is the key.

    One pass is not enough: NFKC can turn a character without a lower case into a capital letter (U+210C
    BLACK-LETTER CAPITAL H becomes "H"), so fold again until nothing changes (two rounds in practice). White space
    at either end is dropped after folding too (U+00A8 DIAERESIS folds to a space and a combining mark), so the form
    stored is exactly the form a typed name is looked up by."""
    key = unicodedata.normalize("NFKC", raw).strip()
    for _ in range(4):
        folded = unicodedata.normalize("NFKC", key.casefold()).strip()
        if folded == key:
            break
        key = folded
    return key


def unprintable(text: str) -> list[str]:
    """The characters of ``text`` no name may hold, in order, each once (as ``U+XXXX NAME``)."""
    found: list[str] = []
    for char in text:
        if unicodedata.category(char) in UNPRINTABLE_CATEGORIES:
            label = f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}"
            if label not in found:
                found.append(label)
    return found


@functools.lru_cache(maxsize=65536)
def _prototype(char: str) -> str:
    """One stand-in for every character that looks like ``char``: the lowest code point among them."""
    homoglyphs = confusables.confusables_data.get(char)
    if not homoglyphs:
        return char
    candidates: list[str] = [char, *(str(h["c"]) for h in homoglyphs if len(h["c"]) == 1)]
    return min(candidates)


def skeleton(text: str) -> str:
    """What ``text`` looks like: NFKC, case folded, unprintable characters dropped, each character replaced by its
    confusable prototype, runs of white space made one space, ends trimmed."""
    folded = username_key(text)
    visible = "".join(c for c in folded if unicodedata.category(c) not in UNPRINTABLE_CATEGORIES)
    mapped = "".join(_prototype(c) for c in visible)
    return " ".join(unicodedata.normalize("NFKC", mapped).split())
