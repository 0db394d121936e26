"""Where the client finds its connection settings: argument, environment, config
file, local stack, in that order; bad config files give a clear error."""

from __future__ import annotations

import json

import pytest

from silico.client import Connection
from silico.core.errors import SilicoError


def test_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("addr: from-config:1\ntoken: cfg-token\ntls_ca: /ca.pem\n")
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.json").write_text(json.dumps({"study": "from-stack:3"}))
    for k in ("SILICO_ADDR", "SILICO_TOKEN", "SILICO_TLS_CA", "SILICO_CONFIG"):
        monkeypatch.delenv(k, raising=False)

    c = Connection.resolve(config=cfg, state_dir=state)
    assert (c.addr, c.token, c.tls_ca) == ("from-config:1", "cfg-token", "/ca.pem")
    monkeypatch.setenv("SILICO_ADDR", "from-env:2")
    monkeypatch.setenv("SILICO_TOKEN", "env-token")
    c = Connection.resolve(config=cfg, state_dir=state)
    assert (c.addr, c.token) == ("from-env:2", "env-token")
    c = Connection.resolve("from-arg:4", token="arg-token", config=cfg, state_dir=state)
    assert (c.addr, c.token) == ("from-arg:4", "arg-token")
    # Without argument, environment or config: the local stack's state file.
    monkeypatch.delenv("SILICO_ADDR")
    monkeypatch.setenv("SILICO_CONFIG", str(tmp_path / "no-config.yaml"))
    assert Connection.resolve(state_dir=state).addr == "from-stack:3"


def test_local_stack_is_the_last_resort(tmp_path, monkeypatch):
    for k in ("SILICO_ADDR", "SILICO_TOKEN", "SILICO_TLS_CA"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("SILICO_CONFIG", str(tmp_path / "none.yaml"))
    (tmp_path / "stack.json").write_text(json.dumps({"study": "127.0.0.1:5"}))
    assert Connection.resolve(state_dir=tmp_path).addr == "127.0.0.1:5"
    with pytest.raises(SilicoError, match="no StudyService address"):
        Connection.resolve(state_dir=tmp_path / "empty")


def test_bad_config_files_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("addr: [unclosed")
    with pytest.raises(SilicoError, match="not valid YAML"):
        Connection.resolve(config=bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(SilicoError, match="must be a mapping"):
        Connection.resolve(config=lst)
    with pytest.raises(SilicoError, match="config file not found"):
        Connection.resolve(config=tmp_path / "missing.yaml")


def test_a_token_never_travels_in_clear_text_beyond_this_machine():
    from silico.client import Connection
    from silico.core.errors import SilicoError

    remote = Connection("silico.example.org:443", "sil_secret", None, None, None)
    with pytest.raises(SilicoError, match="without TLS"):
        remote.channel()
    for addr in ("127.0.0.1:50051", "localhost:50051", "[::1]:50051"):
        Connection(addr, "sil_secret", None, None, None).channel().close()
    Connection("silico.example.org:443", None, None, None, None).channel().close()  # no token
