"""User-supplied text on its way to a terminal or a model: control characters made visible or refused.

A take folder is a file anyone can edit. Its words, prompt and id reach the terminal on
``agx explain``/``regenerate``; with an escape sequence in them (``ESC ] 0 ; title BEL``,
``ESC [ 2 J``) a tampered take could set the terminal's title or clear the screen, and a bidi
override could make a printed path read differently from what it is. :func:`terminal_safe`
shows every such character escaped (``\\x1b``, ``\\u202e``) instead; it is applied to everything
the CLI prints that came from a user or a file.

Prompts: newlines and tabs in a prompt typed on the command line are ordinary spacing
(:func:`normalise_prompt` makes them spaces); any other control character in a prompt is
refused with one line (:func:`check_prompt_chars`), so it never reaches a take.json.

No torch here: the CLI imports this while parsing arguments.
"""
from __future__ import annotations

import re
import unicodedata

from .errors import PromptError

#: bidirectional formatting characters: marks, embeddings, overrides and isolates.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: characters that are spacing inside a prompt (line and paragraph breaks, tabs).
PROMPT_SPACING = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029")
#: the colour/bold escapes torch and other libraries put in their own messages.
_ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_unsafe_char(ch: str) -> bool:
    """True for C0/DEL/C1 controls, bidi controls, line/paragraph separators and lone surrogates."""
    return ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object) -> str:
    """``str(text)`` with every unsafe character (:func:`is_unsafe_char`) written as an escape.

    The result is one line and carries no terminal control sequence; ordinary text (accents,
    CJK, emoji) is unchanged.
    """
    s = str(text)
    if not any(is_unsafe_char(ch) for ch in s):
        return s
    return "".join(_escape(ch) if is_unsafe_char(ch) else ch for ch in s)


def one_line(text: object, limit: int = 200) -> str:
    """A library's message as one terminal-safe line of at most ``limit`` characters.

    The first non-blank line (with the next one when it ends in ":", as in torch's "Error(s) in
    loading state_dict for LMModel:" + the error), styling escapes dropped, anything else unsafe
    escaped (:func:`terminal_safe`), shortened with "…".
    """
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if first.endswith(":") and len(lines) > 1:
        first = f"{first} {lines[1]}"
    first = terminal_safe(_ANSI_STYLE.sub("", first))
    return first if len(first) <= limit else first[: limit - 1] + "…"


def check_prompt_chars(prompt: str) -> None:
    """Refuse a prompt holding a control character other than spacing (:class:`PromptError`)."""
    bad = [ch for ch in prompt if is_unsafe_char(ch) and ch not in PROMPT_SPACING]
    if bad:
        shown = ", ".join(dict.fromkeys(_escape(ch) for ch in bad))
        raise PromptError(f"the prompt contains control characters ({shown}): describe the sound in plain text")


def normalise_prompt(prompt: str) -> str:
    """A command-line prompt with newlines/tabs made spaces; other control characters refused."""
    check_prompt_chars(prompt)
    return "".join(" " if ch in PROMPT_SPACING else ch for ch in prompt)


__all__ = ["terminal_safe", "one_line", "check_prompt_chars", "normalise_prompt", "is_unsafe_char", "BIDI_CONTROLS"]
