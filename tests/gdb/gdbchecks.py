"""Checks shared by the GDB tests that judge a driver's recorded commands: each result is
{"out": text} or {"error": message} (the drivers' run())."""
import re

BAD = ("Traceback", "Python Exception", "internal error", "Error occurred in Python")


def clean(text):
    for bad in BAD:
        assert bad not in text, text[-3000:]


def error(r, key, *words, exact=None):
    """r[key] failed with exactly one line, starting 'fj NAME: ', containing *words*."""
    res = r[key]
    assert "error" in res, f"{key}: expected an error, got:\n{res.get('out', '')[:800]}"
    msg = res["error"]
    assert msg.strip() and "\n" not in msg.strip(), f"{key}: not one line: {msg!r}"
    assert re.match(r"^fj [a-z]+: \S", msg), msg
    clean(msg)
    if exact is not None:
        assert msg == exact, f"{key}: {msg!r}"
    for w in words:
        assert w in msg, f"{key}: {w!r} not in {msg!r}"
    return msg


def ok(r, key, *words):
    res = r[key]
    assert "error" not in res, f"{key}: {res['error']}"
    clean(res["out"])
    for w in words:
        assert w in res["out"], f"{key}: {w!r} not in:\n{res['out'][:2000]}"
    return res["out"]
