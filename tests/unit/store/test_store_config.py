"""``[store]``: SQLite by default; PostgreSQL needs a dsn; a bad backend or schema name is
refused at load time naming the setting; the environment overrides it; ``config show``
prints the section (round-tripping) with a dsn's password hidden; ``assembly`` opens the
configured backend."""

from __future__ import annotations

import pytest

from ceres.assembly import open_history, open_projection
from ceres.config import ConfigError, load_config, redact_dsn, to_toml
from ceres.store.sqlite import SqliteProjection, SqliteReader


def test_sqlite_by_default_in_the_data_directory(tmp_path) -> None:
    cfg = load_config(env={})
    assert (cfg.store.backend, cfg.store.dsn, cfg.store.schema) == ("sqlite", "", "public")
    projection = open_projection(cfg, tmp_path)
    reader = open_history(cfg, tmp_path)
    try:
        assert isinstance(projection, SqliteProjection) and isinstance(reader, SqliteReader)
        assert (tmp_path / "ceres.db").exists()
    finally:
        projection.close()
        reader.close()


@pytest.mark.parametrize(("store", "message"), [
    ({"backend": "postgres"}, 'store.backend = "postgres" needs store.dsn'),
    ({"backend": "mysql"}, "store.backend: 'mysql' is not one of"),
    ({"schema": "Public"}, "store.schema"),
    ({"schema": "a;drop"}, "store.schema"),
    ({"nope": 1}, "nope"),
])
def test_bad_settings_are_refused_naming_them(store, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env={}, overrides={"store": store})


def test_the_environment_sets_it_and_config_show_hides_the_password(tmp_path) -> None:
    cfg = load_config(env={"CERES_STORE_BACKEND": "postgres", "CERES_STORE_SCHEMA": "hist",
                           "CERES_STORE_DSN": "postgresql://ceres:s3cret@db:5432/ceres"})
    assert (cfg.store.backend, cfg.store.schema) == ("postgres", "hist")
    text = to_toml(cfg)
    assert "s3cret" not in text and 'dsn = "postgresql://ceres:***@db:5432/ceres"' in text
    plain = load_config(env={"CERES_STORE_BACKEND": "postgres", "CERES_STORE_DSN": "postgresql://ceres@db/ceres"})
    path = tmp_path / "shown.toml"
    path.write_text(to_toml(plain))
    assert load_config(path, env={}).store == plain.store


@pytest.mark.parametrize(("dsn", "shown"), [
    ("postgresql://u:p@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("postgresql://h:5432/db", "postgresql://h:5432/db"),
    ("postgresql://h/db?sslmode=require&password=p", "postgresql://h/db?sslmode=require&password=***"),
    ("host=h user=u password=p dbname=db", "host=h user=u password=*** dbname=db"),
    ("host=h password='p q' dbname=db", "host=h password=*** dbname=db"),
])
def test_redacted_dsns(dsn, shown) -> None:
    assert redact_dsn(dsn) == shown
