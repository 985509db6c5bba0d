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
import re
import unicodedata

from confusable_homoglyphs import confusables

#: General categories never allowed in a name: Cc control, Cf format (zero-width, bidi), Cs surrogate, Co private
#: use, Cn unassigned. Spaces (Zs) are allowed; line and paragraph separators (Zl, Zp) are not.
UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

#: Characters that draw nothing although their category is a mark, a letter or a symbol: Unicode's
#: Default_Ignorable_Code_Point set (DerivedCoreProperties.txt; Python's unicodedata does not expose it), plus the
#: blank Braille pattern. Refused in names and dropped from skeletons like the categories above.
INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def _hidden(char: str) -> bool:
    code = ord(char)
    return unicodedata.category(char) in UNPRINTABLE_CATEGORIES or any(lo <= code <= hi for lo, hi in INVISIBLE_RANGES)


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
    """The characters of ``text`` no name may hold (unprintable or invisible), in order, each once (as
    ``U+XXXX NAME``)."""
    found: list[str] = []
    for char in text:
        if _hidden(char):
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


@functools.lru_cache(maxsize=1)
def _sequences() -> tuple[re.Pattern[str], dict[str, str]]:
    """Look-alikes written with several characters ("rn" for "m"), each as its single character's prototype, in
    one pattern that prefers the longest sequence."""
    found: dict[str, str] = {}
    for char, homoglyphs in confusables.confusables_data.items():
        if len(char) != 1:
            continue
        for homoglyph in homoglyphs:
            sequence = "".join(_prototype(c) for c in str(homoglyph["c"]) if not _hidden(c))
            if len(sequence) > 1:
                # The lowest of every character the sequence stands for, so "rn" reads as "m" whichever entry of
                # the data named it.
                found[sequence] = min(found.get(sequence, _prototype(char)), _prototype(char))
    pattern = re.compile("|".join(re.escape(s) for s in sorted(found, key=len, reverse=True)))
    return pattern, found


def _skeleton_step(text: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    mapped = "".join(_prototype(c) for c in folded if not _hidden(c) and not c.isspace())
    pattern, sequences = _sequences()
    return pattern.sub(lambda m: sequences[m.group(0)], mapped)


def skeleton(text: str) -> str:
    """What ``text`` looks like, for comparing names, never for showing them: NFKC, case folded, white space,
    unprintable and invisible characters dropped (so a filler or a joiner in place of a space changes nothing), each
    character replaced by its confusable prototype and look-alike sequences by their character ("rn" reads as
    "m"), repeated until nothing changes (a prototype may itself fold)."""
    current = text
    for _ in range(4):
        following = _skeleton_step(current)
        if following == current:
            break
        current = following
    return current
