"""Unicode rules for names: one username form, unprintable characters, confusable skeletons."""

import sys

from common.text import skeleton, unprintable, username_key

EVERY_CODE_POINT = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def test_a_username_key_is_a_fixed_point_for_every_character():
    # One NFKC + case-fold pass is not closed (U+210C BLACK-LETTER CAPITAL H becomes "H"): two accounts "H" and "h"
    # could then exist side by side and collide in the case-insensitive unique index.
    moved = [f"U+{ord(c):04X}" for c in EVERY_CODE_POINT if username_key(username_key(c)) != username_key(c)]
    assert moved == []


def test_a_username_key_has_no_white_space_at_either_end_whatever_folding_produces():
    # U+00A8 DIAERESIS folds to a space and a combining mark: stored with that space, such a name could never be
    # signed in to with the (trimmed) name a person types.
    padded = [f"U+{ord(c):04X}" for c in EVERY_CODE_POINT if username_key(f" {c} ") != username_key(c)]
    assert padded == []
    assert username_key("\u00a8x") == username_key(" \u00a8x ") == "\u0308x"


def test_look_alike_spellings_of_a_username_share_one_key():
    assert {username_key(v) for v in ["sam", "SAM", "\u017fam", "\uff53\uff41\uff4d", "Sam"]} == {"sam"}
    assert username_key("\u210ck") == username_key("hk")


def test_unprintable_characters_are_named_once_each_in_order():
    assert unprintable("a\u202eb\u200bc\u202e") == ["U+202E RIGHT-TO-LEFT OVERRIDE", "U+200B ZERO WIDTH SPACE"]
    assert unprintable("Green Party \u00e9") == []


def test_a_name_and_its_homoglyph_zero_width_and_case_variants_share_a_skeleton():
    plain = skeleton("Green Party")
    assert skeleton("Gr\u0435\u0435n\u200b Party") == plain  # Cyrillic ie, zero-width space
    assert skeleton("GREEN  PARTY") == plain
    assert skeleton("Red Party") != plain
