"""Settings: defaults, CALLGUARD_* environment variables, flags, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import ConfigError
from service.settings import Settings, describe, load_settings


def test_defaults_are_the_embedded_setup() -> None:
    s = load_settings(env={})
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 50051, Path("var"))
    assert s.db_path == Path("var/callguard.db") and s.audio_dir == Path("var/audio")
    assert s.languages == ("zh", "en")


def test_environment_then_flags() -> None:
    env = {
        "CALLGUARD_PORT": "6000",
        "CALLGUARD_LANGUAGES": "en",
        "CALLGUARD_DATA_DIR": "/tmp/x",
        "CALLGUARD_MAX_FRAME_S": "0.5",
    }
    s = load_settings(env=env, port=7000)
    assert s.port == 7000  # the flag wins
    assert s.languages == ("en",) and s.data_dir == Path("/tmp/x") and s.max_frame_s == 0.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CALLGUARD_PORT": "http"}, "CALLGUARD_PORT='http' is not a valid"),
        ({"CALLGUARD_PORT": "70000"}, "outside 0-65535"),
        ({"CALLGUARD_LANGUAGES": ""}, "at least one language"),
        ({"CALLGUARD_VAD_NEG_THRESHOLD": "0.9"}, "vad_neg_threshold"),
    ],
)
def test_invalid_values_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_every_setting_is_documented() -> None:
    rows = describe()
    assert len(rows) == len(Settings.__dataclass_fields__)
    undocumented = [env for env, _default, text in rows if not text]
    assert not undocumented


def test_docs_document_every_setting_with_its_default(repo_root) -> None:
    table = (repo_root / "docs" / "configuration.md").read_text()
    missing = [env for env, default, _ in describe() if f"| `{env}` | `{default}` |" not in table]
    assert not missing, f"docs/configuration.md is out of date for {missing}"
