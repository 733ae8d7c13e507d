"""Output checkers for stdin/stdout tests: how a program's output is compared with the expected one.

Standalone on purpose (no imports from distill, stdlib only): the sandbox harness is this file followed by
harness.py, executed by a bare `python -I -S`, and the parent uses the same functions for C++ programs, so both
languages are judged by one definition.

- exact: the same lines, ignoring only trailing spaces on a line and trailing empty lines (a final newline).
- tokens (default): the same whitespace-separated tokens, wherever the spaces and line breaks fall.
- float: the same tokens, where two numbers match within absolute or relative error 1e-6 (Codeforces' rule:
  |got - want| <= 1e-6 * max(1, |want|)); non-numbers must match exactly.
- lines-unordered: the same lines (each compared by tokens) in any order, for "print the answers in any order".
"""

FLOAT_EPS = 1e-6


def _text(value):
    if isinstance(value, list):
        return "\n".join(str(x) for x in value)
    return str(value)


def check_exact(got, want):
    def lines(s):
        out = [line.rstrip() for line in _text(s).replace("\r\n", "\n").split("\n")]
        while out and not out[-1]:
            out.pop()
        return out

    return lines(got) == lines(want)


def check_tokens(got, want):
    return _text(got).split() == _text(want).split()


def _number(token):
    try:
        value = float(token)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def check_float(got, want):
    a, b = _text(got).split(), _text(want).split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        fx, fy = _number(x), _number(y)
        if fx is None or fy is None or abs(fx - fy) > FLOAT_EPS * max(1.0, abs(fy)):
            return False
    return True


def check_lines_unordered(got, want):
    def lines(s):
        return sorted(" ".join(line.split()) for line in _text(s).splitlines() if line.strip())

    return lines(got) == lines(want)


CHECKERS = {"exact": check_exact, "tokens": check_tokens, "float": check_float,
            "lines-unordered": check_lines_unordered}
