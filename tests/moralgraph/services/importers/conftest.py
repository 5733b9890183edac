"""A reference dump with the optional files of the later reference (the links of contexts
to questions, the answers on fairness, the checks of merges), copied to a temporary
folder, and the synthetic survey export."""

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
REFERENCE = FIXTURES / "reference"
VERIFICATIONS = FIXTURES / "reference-verifications"
SURVEY = FIXTURES / "survey" / "survey-export.csv"


@pytest.fixture
def dump(tmp_path) -> Path:
    directory = tmp_path / "dump"
    shutil.copytree(REFERENCE, directory)
    for path in VERIFICATIONS.iterdir():
        shutil.copy(path, directory / path.name)
    return directory
