"""Settings from `LIAISON_*` environment variables and an optional TOML file.

A wrong setting stops start-up with a message that names the setting, so an operator
never has to guess which of twenty variables was mistyped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SUPPORTED_LANGUAGES = ("zh_CN", "zh_TW", "en")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/liaison.db"
DEFAULT_CONFIG_FILE = "liaison.toml"
PLATFORMS = ("console", "telegram", "matrix")


class SettingsError(Exception):
    """Raised with a human-readable message naming the offending setting."""


class Settings(BaseSettings):
    """Every knob of the bot. Environment variables win over the TOML file."""

    model_config = SettingsConfigDict(env_prefix="LIAISON_", extra="forbid", validate_default=True)

    database_url: str = DEFAULT_DATABASE_URL
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    language: str = "zh_CN"
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    update_attempts: int = Field(default=3, ge=1, le=20)
    tick_seconds: int = Field(default=30, ge=1, le=3600)
    reminder_hour: int = Field(default=9, ge=0, le=23)

    telegram_token: str | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535)
    telegram_webhook_secret: str | None = None

    matrix_homeserver: str | None = None
    matrix_user: str | None = None
    matrix_password: str | None = None
    matrix_access_token: str | None = None
    matrix_device_name: str = "liaison-bot"
    matrix_store_path: str = "./data/matrix-store/"
    matrix_trust: Literal["tofu", "verified-only"] = "tofu"

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("admins")
    @classmethod
    def _check_admins(cls, value: list[str]) -> list[str]:
        for entry in value:
            platform, sep, ident = entry.partition(":")
            if not sep or platform not in PLATFORMS or not ident:
                raise ValueError(
                    f"{entry!r} is not PLATFORM:ID with PLATFORM one of {', '.join(PLATFORMS)} "
                    "(e.g. console:admin,telegram:123456,matrix:@ops:example.org)"
                )
        return value

    @field_validator("language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        normalized = value.replace("-", "_")
        for lang in SUPPORTED_LANGUAGES:
            if normalized.lower() == lang.lower():
                return lang
        raise ValueError(f"{value!r} is not one of {', '.join(SUPPORTED_LANGUAGES)}")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone such as Asia/Shanghai") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(f"{value!r} is not a SQLAlchemy URL such as {DEFAULT_DATABASE_URL}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token)

    @property
    def matrix_enabled(self) -> bool:
        return bool(self.matrix_homeserver)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = os.environ.get("LIAISON_CONFIG", DEFAULT_CONFIG_FILE)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if Path(config_file).is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Load and validate settings, turning pydantic's report into one readable message."""
    config_file = os.environ.get("LIAISON_CONFIG")
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"LIAISON_CONFIG: file {config_file!r} does not exist")
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "LIAISON_" + "_".join(str(part) for part in error["loc"][:1]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    if settings.matrix_enabled:
        if not settings.matrix_user:
            raise SettingsError("LIAISON_MATRIX_USER: required when LIAISON_MATRIX_HOMESERVER is set")
        if not (settings.matrix_password or settings.matrix_access_token):
            raise SettingsError(
                "LIAISON_MATRIX_PASSWORD or LIAISON_MATRIX_ACCESS_TOKEN: one is required "
                "when LIAISON_MATRIX_HOMESERVER is set"
            )
    return settings
