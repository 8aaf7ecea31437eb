"""Property tests over every number and string a user can hand the CLI or the engine (issue 15, item 3).

For arbitrary floats (NaN, ±inf, huge, negative, subnormal), integers (2**70, negative) and unicode
text with control characters, in every numeric option, the prompt and the word weights:

* ``cli.run(argv)`` returns 0 or 2 — it never raises and never prints a traceback; a failure is
  exactly one ``agx: error:`` line on stderr, and it wrote nothing;
* a value is refused exactly when it is outside its documented range (:mod:`agx_desktop.engine.limits`),
  with a message that names the option;
* ``GenerationParams(...).validate()`` either passes, and then every value is finite and the take's
  parameters are strict JSON, or raises the engine's one-line :class:`ParameterError`/:class:`DurationError`.

The CLI runs in-process with argv that fail before any model loads (a valid value then meets an
``--out`` that is a file, or a take folder that does not exist), so hundreds of cases take seconds.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

from agx_desktop.engine import limits
from agx_desktop.engine.cli import run
from agx_desktop.engine.errors import AgxError, DurationError, ParameterError, PromptError
from agx_desktop.engine.explain._common import check_values
from agx_desktop.engine.safetext import check_prompt_chars, is_unsafe_char, normalise_prompt, terminal_safe
from agx_desktop.engine.take import GenerationParams

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

floats = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
ints = st.one_of(st.integers(-10, 10 ** 7), st.integers(-2 ** 80, 2 ** 80), st.sampled_from([2 ** 63 - 1, 2 ** 63,
                                                                                              2 ** 70, -1]))
#: what a user may type for a number: floats and ints as text, the spellings float() accepts for the
#: non-finite values, and anything else
number_text = st.one_of(
    floats.map(repr), floats.map(lambda x: f"{x:.17g}"), ints.map(str),
    st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e300", "1e400", "-1e400", "5e-324", "0",
                     "-0", "1_000", "0x10", "", " ", "1e", "2**70", "9" * 5000]),
    st.text(max_size=12),
)
#: text with every kind of character, control characters and bidi overrides included
nasty = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(list("\x1b\x07\x00\n\t\r\x7f\x9b\u202e\u2066"))),
                max_size=30)


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _in(lo: float, hi: float, lo_open: bool = False):
    return lambda x: x is not None and math.isfinite(x) and (x > lo if lo_open else x >= lo) and x <= hi


def _int_in(lo: int, hi: int):
    return lambda x: x is not None and lo <= x <= hi


# option -> (parse as the CLI does, is the parsed value valid, a word the refusal names)
GENERATE_OPTIONS = {
    "--duration": (_float_or_none, _in(0, math.inf, lo_open=True), "duration"),
    "--seed": (_int_or_none, _int_in(0, limits.MAX_SEED), "seed"),
    "--top-k": (_int_or_none, _int_in(0, limits.MAX_TOP_K), "top-k"),
    "--top-p": (_float_or_none, _in(0.0, 1.0), "top-p"),
    "--temperature": (_float_or_none, _in(0.0, limits.MAX_TEMPERATURE), "temperature"),
    "--cfg": (_float_or_none, _in(0.0, limits.MAX_CFG), "cfg"),
}
EXPLAIN_OPTIONS = {
    "--epochs": (_int_or_none, _int_in(1, limits.MAX_EPOCHS), "epochs"),
    "--seed": (_int_or_none, _int_in(0, limits.MAX_SEED), "seed"),
    "--draws": (_int_or_none, _int_in(1, limits.MAX_DRAWS), "draws"),
    "--permutations": (_int_or_none, _int_in(1, limits.MAX_PERMUTATIONS), "permutations"),
}
EVALUATE_OPTIONS = {
    "--duration": GENERATE_OPTIONS["--duration"],
    "--seed": GENERATE_OPTIONS["--seed"],
    "--epochs": EXPLAIN_OPTIONS["--epochs"],
    "--samples": (_int_or_none, _int_in(1, limits.MAX_SAMPLES), "samples"),
    "--limit": (_int_or_none, _int_in(1, 10 ** 9), "limit"),
}


def _tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its size: "nothing was written" compares two of these."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = p.lstat().st_size
    return out


@pytest.fixture
def agx(tmp_path, capsys, monkeypatch):
    """Run ``agx --quiet ARGS`` in-process inside tmp_path/work; returns (status, stdout, stderr), checking
    the invariants every run must keep. No model may load: every case here is refused before that."""
    from agx_desktop.engine import models

    def no_load(*a, **k):
        raise AssertionError("a model was loaded")
    monkeypatch.setattr(models, "load_model", no_load)
    work = tmp_path / "work"
    work.mkdir()
    (work / "a_file").write_text("not a take\n")

    def call(*args: str) -> tuple[int, str, str]:
        before = _tree(work)
        code = run(["--quiet", *args])
        out, err = capsys.readouterr()
        assert code in (0, 2), (args, code, err)
        assert "Traceback" not in err and "Traceback" not in out
        if code == 2:
            assert err.startswith("agx: error: ") and err.count("\n") == 1, (args, err)
            assert not any(is_unsafe_char(ch) for ch in err[:-1]), err  # escapes shown, never sent
            assert _tree(work) == before, args  # refused: nothing written
        return code, out, err
    call.work = work  # type: ignore[attr-defined]
    return call


def _value_arg(option: str, value: str) -> list[str]:
    # "--opt=value" keeps a value that starts with '-' a value (argparse reads "-1e400" as an option otherwise)
    return [f"{option}={value}"]


@FAST
@given(option=st.sampled_from(sorted(GENERATE_OPTIONS)), value=number_text)
@example(option="--cfg", value="nan").via("issue 15: traceback after the model loaded")
@example(option="--cfg", value="inf").via("issue 15")
@example(option="--temperature", value="nan").via("issue 15: exit 0 with NaN in take.json")
@example(option="--temperature", value="inf").via("issue 15")
@example(option="--seed", value=str(2 ** 70)).via("issue 15: 'must be non-negative'")
def test_generate_numbers(agx, option, value):
    parse, valid, word = GENERATE_OPTIONS[option]
    out = agx.work / "a_file"  # refused by check_out_path: a valid number stops there, before any model loads
    code, _, err = agx("generate", "a dog barks", *_value_arg(option, value), "--out", str(out))
    assert code == 2
    if valid(parse(value)):
        assert "is a file, not a take folder" in err, (option, value, err)
    else:
        assert f"argument {option}" in err and word in err, (option, value, err)
    if option == "--seed" and parse(value) is not None and parse(value) > limits.MAX_SEED:
        assert "seed must be an integer from 0 to 2**63-1 (9223372036854775807), got" in err


@FAST
@given(word=st.sampled_from(["dog", "1", "barks"]), value=number_text)
@example(word="dog", value="inf").via("issue 15")
@example(word="dog", value="nan").via("issue 15")
@example(word="dog", value="1e300").via("issue 15")
def test_generate_word_weights(agx, word, value):
    assume("=" not in value)  # WORD=W splits at the last "="
    out = agx.work / "a_file"
    code, _, err = agx("generate", "a dog barks", "--weights", f"{word}={value}", "--out", str(out))
    assert code == 2
    w = _float_or_none(value)
    if w is not None and math.isfinite(w) and 0 <= w <= limits.MAX_WORD_WEIGHT:
        assert "is a file, not a take folder" in err, (value, err)
    else:
        assert "argument --weights" in err and word in err, (value, err)
        if w is not None:
            assert f"<= {limits.MAX_WORD_WEIGHT:g}" in err


@FAST
@given(spec=nasty)
def test_generate_weight_specs_of_any_text(agx, spec):
    assume(not spec.startswith("-"))  # an option, not a weight, to argparse
    agx("generate", "a dog barks", "--weights", spec, "--out", str(agx.work / "a_file"))


@FAST
@given(prompt=nasty)
@example(prompt="a dog\x1b]0;pwned\x07 barks").via("terminal title")
@example(prompt="rain\non a roof\tat night")
@example(prompt="\u202eskrab god a")
def test_prompt_of_any_text(agx, prompt):
    code, out, err = agx("generate", prompt, "--out", str(agx.work / "a_file"))
    if prompt.startswith("-"):
        return  # argparse reads it as an option: one line or --help, checked by agx()
    assert code == 2
    try:
        clean = normalise_prompt(prompt)
    except PromptError:
        assert "control characters" in err
        return
    if not clean.strip():
        assert "prompt is empty" in err
    else:
        assert "is a file, not a take folder" in err


@FAST
@given(option=st.sampled_from(sorted(EXPLAIN_OPTIONS)), value=number_text)
@example(option="--epochs", value="0")
@example(option="--seed", value="-1")
def test_explain_numbers(agx, option, value):
    parse, valid, word = EXPLAIN_OPTIONS[option]
    code, _, err = agx("explain", str(agx.work / "missing"), *_value_arg(option, value))
    assert code == 2
    if valid(parse(value)):
        assert "not a folder" in err, (option, value, err)
    else:
        assert f"argument {option}" in err and word in err, (option, value, err)


@FAST
@given(start=number_text, end=number_text)
def test_explain_interval(agx, start, end):
    code, _, err = agx("explain", str(agx.work / "missing"), "--interval", start, end)
    if start.startswith("-") or end.startswith("-"):
        return  # argparse may read it as an option ("-1e-45", "-h"): one line or --help, checked by agx()
    a, b = _float_or_none(start), _float_or_none(end)
    if a is not None and b is not None and math.isfinite(a) and math.isfinite(b) and abs(a) <= 1e9 \
            and abs(b) <= 1e9:
        assert "not a folder" in err, (start, end, err)
    else:
        assert "argument --interval: interval time must be a finite number" in err, (start, end, err)


@FAST
@given(value=number_text)
def test_regenerate_seed(agx, value):
    code, _, err = agx("regenerate", str(agx.work / "missing"), f"--seed={value}", "--out", str(agx.work / "x"))
    assert code == 2
    seed = _int_or_none(value)
    if seed is not None and 0 <= seed <= limits.MAX_SEED:
        assert "not a folder" in err
    else:
        assert "argument --seed" in err and "seed must be an integer from 0 to 2**63-1" in err


@FAST
@given(option=st.sampled_from(sorted(EVALUATE_OPTIONS)), value=number_text)
def test_evaluate_numbers(agx, option, value):
    parse, valid, word = EVALUATE_OPTIONS[option]
    code, _, err = agx("evaluate", str(agx.work / "no_captions.txt"), "--out", str(agx.work / "res"),
                       *_value_arg(option, value))
    assert code == 2
    if valid(parse(value)):
        assert "caption file not found" in err, (option, value, err)
    else:
        assert f"argument {option}" in err and word in err, (option, value, err)


# --------------------------------------------------------------------------- engine API

params_values = st.one_of(floats, ints, st.booleans(), st.none(), st.text(max_size=3))


@settings(max_examples=300, deadline=None)
@given(duration=params_values, seed=params_values, top_k=params_values, top_p=params_values,
       temperature=params_values, cfg_coef=params_values)
@example(duration=1.0, seed=0, top_k=250, top_p=0.0, temperature=float("nan"), cfg_coef=3.0)
@example(duration=1.0, seed=2 ** 70, top_k=250, top_p=0.0, temperature=1.0, cfg_coef=3.0)
@example(duration=5e-324, seed=0, top_k=0, top_p=1.0, temperature=0.0, cfg_coef=0.0)
def test_generation_params_validate(duration, seed, top_k, top_p, temperature, cfg_coef):
    p = GenerationParams(duration=duration, seed=seed, top_k=top_k, top_p=top_p, temperature=temperature,
                         cfg_coef=cfg_coef)
    try:
        p.validate()
    except (ParameterError, DurationError) as exc:
        assert isinstance(exc, AgxError) and "\n" not in str(exc)
        return
    d = p.to_dict()
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in d.values())
    text = json.dumps(d, allow_nan=False)  # strict JSON: a take.json never holds NaN/Infinity
    back = GenerationParams(**json.loads(text))
    back.validate()
    assert back == GenerationParams(**d)
    assert 0 <= d["seed"] <= limits.MAX_SEED and d["duration"] > 0 and d["cfg_coef"] <= limits.MAX_CFG


@settings(max_examples=200, deadline=None)
@given(params=st.dictionaries(st.sampled_from(["epochs", "draws", "permutations", "seed", "tau", "lr", "alpha",
                                                "focus", "window", "max_batch", "chunk", "factor"]),
                              st.one_of(floats, ints, st.booleans(), st.none(),
                                        st.tuples(floats, floats)), max_size=4))
def test_explainer_values_are_finite_and_in_range_or_refused(params):
    try:
        check_values("audiogenx", params)
    except ParameterError as exc:
        assert "\n" not in str(exc)
        return

    def finite(v):
        if isinstance(v, tuple):
            return all(finite(x) for x in v)
        return v is None or isinstance(v, bool) or math.isfinite(v)
    assert all(finite(v) for v in params.values())
    for key in ("epochs", "draws", "permutations"):
        if params.get(key) is not None:
            assert isinstance(params[key], int) and params[key] >= 1


# --------------------------------------------------------------------------- text to the terminal

@settings(max_examples=300, deadline=None)
@given(text=nasty)
@example(text="\x1b]0;title\x07\x1b[2J")
def test_terminal_safe_never_passes_a_control_character(text):
    shown = terminal_safe(text)
    assert not any(is_unsafe_char(ch) for ch in shown)
    if not any(is_unsafe_char(ch) for ch in text):
        assert shown == text  # ordinary text (accents, CJK, emoji) is left alone
    else:
        assert "\\x" in shown or "\\u" in shown


@settings(max_examples=300, deadline=None)
@given(prompt=nasty)
def test_prompts_are_plain_text_or_refused(prompt):
    try:
        clean = normalise_prompt(prompt)
    except PromptError as exc:
        assert "control characters" in str(exc) and not any(is_unsafe_char(ch) for ch in str(exc))
        with pytest.raises(PromptError):
            check_prompt_chars(prompt)
        return
    assert not any(is_unsafe_char(ch) for ch in clean) and len(clean) == len(prompt)
