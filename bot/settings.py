"""Operator settings: one YAML file plus environment overrides, validated once.

Where settings come from, later wins:
1. defaults below;
2. the YAML file (`config/newsbot.yaml`, `--config PATH` or `NEWSBOT_CONFIG`);
3. environment variables `NEWSBOT_<SECTION>__<KEY>` (e.g. `NEWSBOT_DATABASE__URL`,
   `NEWSBOT_FETCH__CONCURRENCY`), plus a few documented short names
   (`NEWSBOT_DATABASE_URL`, `TELEGRAM_API_BASE_URL`, `SLACK_API_BASE_URL`).
Secrets (tokens, API keys) are read from the environment only; a secret found in
the YAML file is refused with a hint.

A bad value raises ConfigError naming the file, the line, the key and what
would be valid. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import ConfigError

DEFAULT_CONFIG = "config/newsbot.yaml"
SECRET_KEYS = {"token", "bot_token", "app_token", "signing_secret", "api_key", "password"}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> float:
    """'90s', '15m', '6h', '2d', 300 → seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration; write e.g. 300, 90s, 15m, 6h or 2d")
    return float(m.group(1)) * _UNITS[m.group(2)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _dur(*names: str):
    return field_validator(*names, mode="before")(lambda cls, v: parse_duration(v))


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///data/newsbot.db"
    auto_upgrade: bool = True
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db")
        return v


class FeedsSettings(_Section):
    lists: tuple[str, ...] = ("feeds/samples.yaml",)
    default_interval: float = 900
    min_interval: float = 300
    max_interval: float = 86400
    max_backoff: float = 6 * 3600
    notify_after_errors: int = Field(default=10, ge=1)
    tick: float = 10                     # how often `run` looks for due feeds
    _v = _dur("default_interval", "min_interval", "max_interval", "max_backoff", "tick")


class FetchSettings(_Section):
    user_agent: str | None = None
    connect_timeout: float = 10
    read_timeout: float = 30
    total_timeout: float = 60
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=5, ge=0, le=20)
    concurrency: int = Field(default=100, ge=1, le=5000)
    per_host_concurrency: int = Field(default=4, ge=1, le=100)
    parse_workers: int = Field(default=0, ge=0, le=64)   # 0: one per core
    _v = _dur("connect_timeout", "read_timeout", "total_timeout")


class WatchlistSettings(_Section):
    dir: str = "watchlists"
    reload_interval: float = 2
    _v = _dur("reload_interval")


class RouteSettings(_Section):
    watchlist: str
    to: str                                   # console | telegram:<chat id> | slack:<channel id>
    mode: Literal["instant", "digest"] = "instant"
    digest: str | None = None                 # "hourly" | "daily 08:00"
    timezone: str = "UTC"
    quiet: str | None = None                  # "22:00-07:00"

    @field_validator("to")
    @classmethod
    def _dest(cls, v: str) -> str:
        if v == "console" or re.match(r"^(telegram|slack):\S+$", v):
            return v
        raise ValueError("write console, telegram:<chat id> or slack:<channel id>")


class StoriesSettings(_Section):
    window: float = 72 * 3600
    threshold: float = Field(default=0.32, gt=0, le=1)
    updates: Literal["off", "on"] = "off"
    _v = _dur("window")


class SummarizerSettings(_Section):
    kind: Literal["extractive", "llm"] = "extractive"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_timeout: float = 20
    full_text_timeout: float = 20
    _v = _dur("llm_timeout", "full_text_timeout")


class DeliverySettings(_Section):
    batch_size: int = Field(default=200, ge=1, le=10000)
    poll_interval: float = 1
    max_attempts: int = Field(default=12, ge=1)
    lease: float = 120
    digest_top: int = Field(default=5, ge=1, le=50)
    _v = _dur("poll_interval", "lease")


class TelegramSettings(_Section):
    api_base_url: str = "https://api.telegram.org/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    link_preview: bool = False
    operators: tuple[int, ...] = ()
    max_subscriptions_per_chat: int = 20
    max_query_length: int = 300


class SlackSettings(_Section):
    api_base_url: str = "https://slack.com/api/"
    mode: Literal["socket", "http"] = "socket"
    who_can_change: Literal["anyone", "admins"] = "anyone"
    operators: tuple[str, ...] = ()
    workspace_per_minute: int = Field(default=600, ge=1)


class WebSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class ConsoleSettings(_Section):
    enabled: Literal["auto", "on", "off"] = "auto"   # auto: on when no platform token is set
    output: str | None = None                          # a file to append alerts to; default stdout


class Settings(_Section):
    instance_id: str | None = None          # unique per running instance; default host name
    database: DatabaseSettings = DatabaseSettings()
    feeds: FeedsSettings = FeedsSettings()
    fetch: FetchSettings = FetchSettings()
    watchlists: WatchlistSettings = WatchlistSettings()
    routes: tuple[RouteSettings, ...] = ()
    stories: StoriesSettings = StoriesSettings()
    summarizer: SummarizerSettings = SummarizerSettings()
    delivery: DeliverySettings = DeliverySettings()
    telegram: TelegramSettings = TelegramSettings()
    slack: SlackSettings = SlackSettings()
    web: WebSettings = WebSettings()
    console: ConsoleSettings = ConsoleSettings()


@dataclass(frozen=True)
class Secrets:
    telegram_bot_token: str | None = None
    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    llm_api_key: str | None = None
    telegram_webhook_secret: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Secrets":
        return cls(
            telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN") or None,
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            llm_api_key=env.get("NEWSBOT_LLM_API_KEY") or None,
            telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET") or None,
        )


@dataclass(frozen=True)
class Config:
    """Everything loaded at start-up: settings, secrets and where they came from."""

    settings: Settings
    secrets: Secrets
    path: Path | None           # the YAML file, if one was read
    base_dir: Path              # relative paths in settings resolve against this

    def resolve(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else (self.base_dir / p)


_SHORT_ENV = {
    "NEWSBOT_DATABASE_URL": ("database", "url"),
    "TELEGRAM_API_BASE_URL": ("telegram", "api_base_url"),
    "SLACK_API_BASE_URL": ("slack", "api_base_url"),
}


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, merge and validate. Raises ConfigError with file, line, key and a fix."""
    env = os.environ if env is None else env
    explicit = path is not None or "NEWSBOT_CONFIG" in env
    cfg_path = Path(path or env.get("NEWSBOT_CONFIG") or DEFAULT_CONFIG)
    data: dict[str, Any] = {}
    lines: dict[tuple, int] = {}
    if cfg_path.exists():
        text = cfg_path.read_text(encoding="utf-8")
        data, lines = _read_yaml(text, str(cfg_path))
    elif explicit:
        raise ConfigError("config file not found", file=str(cfg_path),
                          hint="pass an existing file with --config PATH or NEWSBOT_CONFIG")
    _refuse_secrets(data, lines, str(cfg_path))
    _apply_env(data, env)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, lines, str(cfg_path), data) from exc
    base = cfg_path.resolve().parent if cfg_path.exists() else Path.cwd()
    return Config(settings=settings, secrets=Secrets.from_env(env),
                  path=cfg_path if cfg_path.exists() else None, base_dir=base)


def _read_yaml(text: str, file: str) -> tuple[dict, dict[tuple, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=file,
                          line=mark.line + 1 if mark else None,
                          hint="fix the indentation or quoting on that line") from exc
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections (database:, feeds:, …)", file=file, line=1)
    lines: dict[tuple, int] = {}
    _index_lines(node, (), lines)
    return data, lines


def _index_lines(node: yaml.Node, path: tuple, out: dict[tuple, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[path + (key,)] = k.start_mark.line + 1
            _index_lines(v, path + (key,), out)
            out[path + (key,)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _index_lines(v, path + (i,), out)


def _refuse_secrets(data: Any, lines: dict, file: str, path: tuple = ()) -> None:
    if isinstance(data, dict):
        for k, v in data.items():
            if str(k).lower() in SECRET_KEYS and v:
                raise ConfigError("secrets are read from the environment only", file=file,
                                  line=lines.get(path + (k,)), key=".".join(map(str, path + (k,))),
                                  hint="remove it from the file and set TELEGRAM_BOT_TOKEN, SLACK_BOT_TOKEN, "
                                       "SLACK_APP_TOKEN, SLACK_SIGNING_SECRET or NEWSBOT_LLM_API_KEY instead")
            _refuse_secrets(v, lines, file, path + (k,))


def _apply_env(data: dict, env: Mapping[str, str]) -> None:
    for name, keys in _SHORT_ENV.items():
        if env.get(name):
            data.setdefault(keys[0], {})[keys[1]] = env[name]
    for name, value in env.items():
        if not name.startswith("NEWSBOT_") or "__" not in name:
            continue
        parts = [p.lower() for p in name[len("NEWSBOT_"):].split("__")]
        target = data
        for p in parts[:-1]:
            nxt = target.get(p)
            if not isinstance(nxt, dict):
                nxt = target[p] = {}
            target = nxt
        target[parts[-1]] = _env_value(value)


def _env_value(value: str) -> Any:
    """Environment values are YAML scalars or flow lists: `[1, 2]`, `true`, `15m`."""
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _config_error(exc: ValidationError, lines: dict, file: str, data: dict) -> ConfigError:
    errors = exc.errors()
    error = _error_at(errors[0], lines, file, data)
    if len(errors) > 1:
        more = len(errors) - 1
        error.message += f" (and {more} more problem{'s' if more > 1 else ''}: run `newsbot check-config`)"
    return error


def _error_at(err: Any, lines: dict, file: str, data: dict) -> ConfigError:
    loc = tuple(err["loc"])
    line = None
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            line = lines[loc[:n]]
            break
    key = ".".join(str(p) for p in loc)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        section = loc[:-1]
        known = _known_keys(section)
        msg = f"unknown setting {loc[-1]!r}"
        hint = f"valid keys here: {', '.join(known)}" if known else None
    else:
        hint = _hint_for(err)
    return ConfigError(msg, file=file if lines or data else None, line=line, key=key, hint=hint)


def _hint_for(err: dict) -> str | None:
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return f"expected {ctx['expected']}"
    if err["type"].startswith(("greater", "less")):
        return "; ".join(f"{k} {v}" for k, v in ctx.items())
    return None


def _known_keys(section: tuple) -> list[str]:
    model: Any = Settings
    for part in section:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        model = inner[0] if inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel) else ann
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return sorted(model.model_fields)


def all_problems(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem in the settings, one line each (for `check-config`)."""
    env = os.environ if env is None else env
    try:
        load_config(path, env)
        return []
    except ConfigError as first:
        cfg_path = Path(path or env.get("NEWSBOT_CONFIG") or DEFAULT_CONFIG)
        if first.message.startswith(("not valid YAML", "config file not found", "secrets")):
            return [str(first)]
        data, lines = _read_yaml(cfg_path.read_text(encoding="utf-8"), str(cfg_path)) if cfg_path.exists() else ({}, {})
        _apply_env(data, env)
        try:
            Settings.model_validate(data)
        except ValidationError as exc:
            return [str(_error_at(e, lines, str(cfg_path), data)) for e in exc.errors()]
        return [str(first)]
