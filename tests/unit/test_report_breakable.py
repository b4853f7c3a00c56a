"""``recon.render.breakable``: the report's long words get line-break opportunities, nothing else changes."""

from __future__ import annotations

import re

from qbo_toolkit.recon.render import breakable


def test_short_words_are_only_escaped() -> None:
    text = "Charlie's <Cafe> & Bar, W-10023 · 2026-03-31 pending|W2|entity=client"  # 24 characters
    assert str(breakable(text)) == ("Charlie&#39;s &lt;Cafe&gt; &amp; Bar, W-10023 · 2026-03-31 "
                                    "pending|W2|entity=client")
    assert str(breakable(None)) == "" and str(breakable(12)) == "12"


def test_a_long_word_breaks_after_its_punctuation_and_every_16_characters() -> None:
    email = "accounts.payable@" + "x" * 40 + ".example.com"
    html = str(breakable(f"mail {email} now"))
    assert html.startswith("mail accounts.<wbr>payable@<wbr>") and html.endswith(" now")
    assert html.replace("<wbr>", "") == f"mail {email} now"  # the text itself is unchanged
    assert max(len(piece) for piece in re.split(r"<wbr>|\s", html)) <= 16


def test_a_long_word_is_escaped_piece_by_piece() -> None:
    word = "<script>alert('x')</script>&&&&&&&&&&"
    html = str(breakable(word))
    assert "<script" not in html and "&lt;script&gt;" in html.replace("<wbr>", "")
    assert html.replace("<wbr>", "") == "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" + "&amp;" * 10
