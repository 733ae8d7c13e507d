from distill_cli.answers import boxed_spans, extract_gold, gsm8k_final, last_boxed


def test_last_boxed_balances_nested_braces():
    text = r"so $\boxed{\frac{1}{2}}$ and finally \boxed{\left( 3, \frac{\pi}{2} \right)}."
    assert last_boxed(text) == r"\left( 3, \frac{\pi}{2} \right)"
    assert boxed_spans(r"\boxed{a} \fbox{b}") == ["a", "b"]


def test_unclosed_or_empty_boxed_gives_none():
    assert last_boxed(r"\boxed{\frac{1}{2}") is None
    assert last_boxed(r"\boxed{}") is None
    assert last_boxed(None) is None


def test_gsm8k_final_takes_the_number_after_the_last_marker():
    assert gsm8k_final("work <<1+1=2>>\n#### 1,234") == "1234"
    assert gsm8k_final("no marker") is None


def test_extract_gold_auto_picks_by_content():
    assert extract_gold("steps\n#### 18", "auto") == "18"
    assert extract_gold(r"thus \boxed{7}.", "auto") == "7"
    assert extract_gold("  42 ", "auto") == "42"
    assert extract_gold("   ", "raw") is None
