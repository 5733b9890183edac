"""The stages' prompts: ``<app>/<name>.md`` files beside this module, each with a version.

A prompt is named ``"<app>/<name>"`` (``"elicitation/interview"``,
``"moralgraph/dedup"``): the app whose step it serves. Its version is stored with every
call and every cached answer, so that what a model was asked can always be told apart.
What a model is asked is the prompt's text and, for a structured stage, the JSON Schema
its reply must match: the version hashes both, so changing either changes it.

Versions stored before the schema joined the hash were rewritten by the data migration
``elicitation/migrations/0005_prompt_versions_with_schema.py``, so cached answers
written with an unchanged prompt stay valid.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from elicitation.llm import stages

PROMPTS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Prompt:
    """A prompt text and its version (``version_of`` its text and its stage's schema)."""

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
    stage = stages.for_prompt(name)
    if stage is None:
        raise ValueError(f"no stage sends a prompt {name!r}: add it to elicitation/llm/stages.py")
    path = PROMPTS_DIR / f"{name}.md"
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ValueError(f"no prompt {name!r}: {path} does not exist") from None
    schema = _canonical(stage.schema) if stage.schema is not None else None
    return _read_prompt(name, str(path), stat.st_mtime_ns, stat.st_size, schema)


def version_of(text: str, schema: dict[str, Any] | None) -> str:
    """The first 12 hex digits of the sha256 of a prompt's text and, if its stage is
    structured, of the stage's schema (as canonical JSON, so key order is no change).

    A stage without a schema (the interview) is versioned by its text alone, as every
    prompt was before schemas counted.
    """
    digest = hashlib.sha256(text.encode("utf-8"))
    if schema is not None:
        digest.update(b"\0" + _canonical(schema).encode("utf-8"))
    return digest.hexdigest()[:12]


def _canonical(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@lru_cache(maxsize=128)
def _read_prompt(name: str, path: str, mtime_ns: int, size: int, schema: str | None) -> Prompt:
    text = Path(path).read_text(encoding="utf-8")
    version = version_of(text, json.loads(schema) if schema is not None else None)
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
