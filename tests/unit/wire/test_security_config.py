"""``[security]``, ``[tls]`` and ``[auth]`` settings: the compatible defaults, what the
strict profile turns on, and the refusals (named settings, clear messages)."""

from __future__ import annotations

import pytest

from ceres.config import ConfigError, load_config, to_toml


def _load(tmp_path, text: str, env: dict | None = None):
    path = tmp_path / "ceres.toml"
    path.write_text(text)
    return load_config(path, env=env or {})


def test_defaults_are_compatible_with_2019_clients():
    cfg = load_config(env={})
    assert cfg.security.profile == "default" and not cfg.strict
    assert cfg.require_timestamp is False and cfg.auth.require_timestamp_default is False
    assert cfg.allowed_origins is None  # no Origin check
    assert (cfg.tls.cert, cfg.tls.key) == ("", "")


def test_strict_turns_everything_on(tmp_path):
    cfg = _load(tmp_path, '[security]\nprofile = "strict"\n[tls]\ncert = "c.pem"\nkey = "k.pem"\n')
    assert cfg.strict and cfg.require_timestamp
    assert cfg.allowed_origins == ()  # no browser origins unless listed
    cfg = _load(tmp_path, '[security]\nprofile = "strict"\nallowed_origins = ["https://console.example"]\n'
                          '[tls]\ncert = "c.pem"\nkey = "k.pem"\n')
    assert cfg.allowed_origins == ("https://console.example",)


def test_strict_without_tls_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, '[security]\nprofile = "strict"\n')
    assert str(info.value) == 'security.profile = "strict" needs TLS: set [tls] cert and key (PEM files)'


@pytest.mark.parametrize(("text", "message"), [
    ('[security]\nprofile = "paranoid"\n', "security.profile: 'paranoid' is not one of default, strict"),
    ('[tls]\ncert = "c.pem"\n', "tls: set both cert and key (PEM files), or neither"),
    ('[tls]\nkey = "k.pem"\n', "tls: set both cert and key (PEM files), or neither"),
    ('[security]\nallowed_origins = ["console.example"]\n', "security.allowed_origins: 'console.example' is not"),
    ('[tls]\nciphers = "ALL"\n', "ciphers"),
])
def test_refusals_name_the_setting(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert message in str(info.value)


def test_an_empty_origin_list_refuses_every_browser(tmp_path):
    assert _load(tmp_path, "[security]\nallowed_origins = []\n").allowed_origins == ()


def test_environment_sets_origins_comma_separated():
    cfg = load_config(env={"CERES_SECURITY_ALLOWED_ORIGINS": "https://a.example, http://b.example:8080",
                           "CERES_AUTH_REQUIRE_TIMESTAMP_DEFAULT": "true"})
    assert cfg.allowed_origins == ("https://a.example", "http://b.example:8080")
    assert cfg.auth.require_timestamp_default is True


def test_config_show_round_trips_the_new_settings(tmp_path):
    cfg = _load(tmp_path, '[security]\nallowed_origins = ["https://a.example"]\n[tls]\ncert = "c.pem"\nkey = "k.pem"\n'
                          '[auth]\nrequire_timestamp_default = true\n')
    text = to_toml(cfg)
    assert 'allowed_origins = ["https://a.example"]' in text and 'cert = "c.pem"' in text
    assert _load(tmp_path, text) == cfg
    unset = load_config(env={})
    assert "allowed_origins" not in to_toml(unset)  # unset stays unset (any Origin)
    assert _load(tmp_path, to_toml(unset)).allowed_origins is None
