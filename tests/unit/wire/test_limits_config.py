"""``[limits]`` connection settings: defaults from the embedded ceres.toml, and values out
of range refused at load time with the setting named (ConfigError), as ``ceres serve``
would refuse them at start."""

from __future__ import annotations

import pytest

from ceres.config import ConfigError, load_config


def test_defaults_come_from_the_embedded_file():
    lim = load_config(env={}).limits
    assert (lim.max_connections, lim.max_connections_per_ip, lim.max_connections_per_key) == (0, 2000, 500)
    assert (lim.header_timeout_ms, lim.body_timeout_ms, lim.idle_timeout_ms) == (10000, 10000, 60000)
    assert (lim.handshake_timeout_ms, lim.ws_ping_interval_ms, lim.ws_ping_timeout_ms) == (10000, 30000, 20000)
    assert (lim.max_unsent_kib, lim.ws_send_buffer_kib, lim.max_header_bytes) == (1024, 64, 8190)


@pytest.mark.parametrize(("name", "value"), [
    ("max_connections_per_ip", 0), ("max_connections_per_key", -1), ("header_timeout_ms", 0),
    ("max_header_bytes", 100), ("max_unsent_kib", 0), ("ws_send_buffer_kib", -5), ("max_connections", -1)])
def test_out_of_range_is_refused_naming_the_setting(name, value):
    with pytest.raises(ConfigError, match=f"limits.{name}"):
        load_config(env={}, overrides={"limits": {name: value}})


def test_ping_timeout_cannot_exceed_the_interval():
    with pytest.raises(ConfigError, match="ws_ping_timeout_ms"):
        load_config(env={}, overrides={"limits": {"ws_ping_interval_ms": 1000, "ws_ping_timeout_ms": 2000}})
    assert load_config(env={}, overrides={"limits": {"ws_ping_interval_ms": 0}}).limits.ws_ping_interval_ms == 0


def test_environment_overrides_a_limit():
    assert load_config(env={"CERES_LIMITS_MAX_CONNECTIONS_PER_IP": "7"}).limits.max_connections_per_ip == 7
