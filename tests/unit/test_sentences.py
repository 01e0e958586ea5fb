"""Sentence splitting: abbreviations, initials, decimals, quotes, Cyrillic."""

from __future__ import annotations

import pytest

from bot.core.sentences import split_sentences

CASES = [
    # (text, expected sentences)
    ("Troops arrived. They left.", ["Troops arrived.", "They left."]),
    ("Gen. John Smith met U.S. officials on Monday. The talks lasted 3.5 hours.",
     ["Gen. John Smith met U.S. officials on Monday.", "The talks lasted 3.5 hours."]),
    ("Prices rose 2.5% in the U.S. In Europe they fell.",
     ["Prices rose 2.5% in the U.S.", "In Europe they fell."]),
    ("The U.S. Army said so. Mr. Brown agreed.", ["The U.S. Army said so.", "Mr. Brown agreed."]),
    ("J. R. R. Tolkien wrote it. Dr. No left.", ["J. R. R. Tolkien wrote it.", "Dr. No left."]),
    ('He said: "It went well. We agreed." Then he left.',
     ['He said: "It went well. We agreed."', "Then he left."]),
    ('He said "no." Then left.', ['He said "no."', "Then left."]),
    ("Really? Yes! Fine… It was ok.", ["Really?", "Yes!", "Fine…", "It was ok."]),
    ("The base (est. 2004) is large. It has 7,000 troops.",
     ["The base (est. 2004) is large.", "It has 7,000 troops."]),
    ("Talks set for Jan. 15 in Kabul. Both sides agreed.",
     ["Talks set for Jan. 15 in Kabul.", "Both sides agreed."]),
    ("Weapons, ammunition, etc. Nothing else was found.",
     ["Weapons, ammunition, etc.", "Nothing else was found."]),
    ("В 2012 г. было подписано соглашение. В. В. Путин, т.е. президент РФ, заявил об этом.",
     ["В 2012 г. было подписано соглашение.", "В. В. Путин, т.е. президент РФ, заявил об этом."]),
    ("«Мы готовы. Все решено», — сказал он. Рост составил 5,3%.",
     ["«Мы готовы. Все решено», — сказал он.", "Рост составил 5,3%."]),
    ("Он прибыл в г. Душанбе. Соглашение действует до 2042 г. База останется.",
     ["Он прибыл в г. Душанбе.", "Соглашение действует до 2042 г.", "База останется."]),
    ("Танки, БМП и др. Учения продлятся неделю.", ["Танки, БМП и др.", "Учения продлятся неделю."]),
    ("Сумма составила 5 млн руб. Он доволен.", ["Сумма составила 5 млн руб.", "Он доволен."]),
    ("First paragraph without a stop\n\nSecond paragraph.",
     ["First paragraph without a stop", "Second paragraph."]),
    ("  many   spaces\tand\nnewlines here.  ", ["many spaces and newlines here."]),
    ("", []),
    ("...", ["..."]),
    ("Wait…! Then he left.", ["Wait…!", "Then he left."]),
    ("Prices rose.. Then fell?! Yes.", ["Prices rose..", "Then fell?!", "Yes."]),
    ("At the Kharb-Maidon-Lakhsh-Rasht-Garm-Tavildara-Darband checkpoint. Then it closed.",
     ["At the Kharb-Maidon-Lakhsh-Rasht-Garm-Tavildara-Darband checkpoint.", "Then it closed."]),
    ("Troops from the U.S. The U.S. Army said so.", ["Troops from the U.S.", "The U.S. Army said so."]),
]


@pytest.mark.parametrize("text, expected", CASES, ids=[c[0][:30] for c in CASES])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_an_unclosed_quote_does_not_swallow_a_long_paragraph() -> None:
    text = '"Broken quote. ' + "This sentence is long enough to matter here. " * 20
    assert len(split_sentences(text)) > 10
