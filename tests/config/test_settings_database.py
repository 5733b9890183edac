"""config/settings.py's database settings, as a connection applies them."""

import sqlite3

from config.settings import _database


def test_a_sqlite_connection_writes_ahead_and_reads_through_a_memory_map(tmp_path):
    config = _database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    # What Django runs on each new connection (its init_command), on a file as the demo has.
    database = sqlite3.connect(config["NAME"])
    database.executescript(config["OPTIONS"]["init_command"])
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert database.execute("PRAGMA mmap_size").fetchone()[0] == 2**30
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
