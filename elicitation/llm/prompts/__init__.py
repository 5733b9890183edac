"""The stages' prompts: ``<app>/<name>.md`` files beside this module, each with a version.

A prompt is named ``"<app>/<name>"`` (``"elicitation/interview"``,
``"moralgraph/dedup"``): the app whose step it serves. Its version is stored with every
call and every cached answer, so that what a model was asked can always be told apart.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

PROMPTS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Prompt:
    """A prompt text and its version: the first 12 hex digits of the text's sha256."""

    name: str
    text: str
    version: str


_PROMPT_NAME_RE = re.compile(r"^[a-z_]+/[a-z_]+$")
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_prompt(name: str) -> Prompt:
    """Load ``"<app>/<name>"`` from ``PROMPTS_DIR/<app>/<name>.md``.

    Cached on the file's modification time and size, so that an edited prompt is picked
    up (with its new version) without a restart, and an unchanged one is read once.
    """
    if not _PROMPT_NAME_RE.match(name):
        raise ValueError(f'prompt name must look like "elicitation/interview", got {name!r}')
    path = PROMPTS_DIR / f"{name}.md"
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ValueError(f"no prompt {name!r}: {path} does not exist") from None
    return _read_prompt(name, str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=128)
def _read_prompt(name: str, path: str, mtime_ns: int, size: int) -> Prompt:
    text = Path(path).read_text(encoding="utf-8")
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Prompt(name=name, text=text, version=version)


def render(prompt: Prompt, **values: Any) -> str:
    """Substitute ``{name}`` placeholders in ``prompt`` with ``values``.

    Unlike ``str.format``, any other brace (a JSON example such as ``{"title": ...}``)
    is left as it is, and substituted values are never scanned again, so a participant
    who types ``{question}`` cannot inject anything. A placeholder without a value
    raises ``KeyError``, as ``str.format`` would; extra values are ignored.
    """

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"prompt {prompt.name!r} needs a value for {{{key}}}")
        return str(values[key])

    return _PLACEHOLDER_RE.sub(substitute, prompt.text)
