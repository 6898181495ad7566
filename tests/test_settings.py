"""Settings: environment, TOML file, and errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.language == "zh_CN" and settings.timezone == "Asia/Shanghai"
    assert not settings.telegram_enabled and not settings.matrix_enabled


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIAISON_ADMINS", "console:admin, telegram:123456,matrix:@ops:example.org")
    monkeypatch.setenv("LIAISON_LANGUAGE", "zh-tw")
    settings = load_settings()
    assert settings.admins == ["console:admin", "telegram:123456", "matrix:@ops:example.org"]
    assert settings.language == "zh_TW"


def test_toml_file_and_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "liaison.toml").write_text('timezone = "Europe/Berlin"\nlanguage = "en"\n', encoding="utf-8")
    monkeypatch.setenv("LIAISON_LANGUAGE", "zh_CN")
    settings = load_settings()
    assert settings.timezone == "Europe/Berlin" and settings.language == "zh_CN"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LIAISON_TIMEZONE", "Mars/Base"),
        ("LIAISON_LANGUAGE", "fr"),
        ("LIAISON_ADMINS", "alice"),
        ("LIAISON_ADMINS", "irc:alice"),
        ("LIAISON_DATABASE_URL", "liaison.db"),
        ("LIAISON_TICK_SECONDS", "0"),
    ],
)
def test_wrong_setting_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert name in str(error.value)


def test_unknown_setting_in_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "liaison.toml").write_text('timezon = "Asia/Shanghai"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "LIAISON_TIMEZON" in str(error.value)


def test_matrix_needs_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIAISON_MATRIX_HOMESERVER", "http://127.0.0.1:8008")
    with pytest.raises(SettingsError, match="LIAISON_MATRIX_USER"):
        load_settings()
    monkeypatch.setenv("LIAISON_MATRIX_USER", "@bot:localhost")
    with pytest.raises(SettingsError, match="LIAISON_MATRIX_PASSWORD"):
        load_settings()
