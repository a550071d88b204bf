"""`.env.example` must document every setting with its real embedded default."""

from pathlib import Path

import pytest

from photoai.settings import PROJECT_ROOT, Settings

EXAMPLE = PROJECT_ROOT / ".env.example"


def documented_names() -> set[str]:
    names = set()
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0])
    return names


def test_every_setting_is_documented() -> None:
    expected = {f"PHOTOAI_{name.upper()}" for name in Settings.model_fields}
    assert documented_names() == expected


def test_documented_values_are_the_embedded_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"PHOTOAI_{name.upper()}", raising=False)
    monkeypatch.chdir(PROJECT_ROOT)
    from_example = Settings(_env_file=EXAMPLE).model_dump()  # type: ignore[call-arg]
    defaults = Settings(_env_file=None).model_dump()  # type: ignore[call-arg]
    assert Path(from_example.pop("data_dir")).resolve() == Path(defaults.pop("data_dir"))
    assert from_example == defaults


def test_generated_signing_key_is_stable_and_private(tmp_path: Path) -> None:
    first = Settings(_env_file=None, data_dir=tmp_path, secret_key="").signing_key  # type: ignore[call-arg]
    second = Settings(_env_file=None, data_dir=tmp_path, secret_key="").signing_key  # type: ignore[call-arg]
    assert first == second and len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert Settings(_env_file=None, secret_key="mine").signing_key == "mine"  # type: ignore[call-arg]
