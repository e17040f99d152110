"""Configuration: one validated object, built from flags > environment > YAML file > defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

__all__ = [
    "ENV_PREFIX",
    "ExtractionSettings",
    "InjectSettings",
    "RetrievalSettings",
    "Settings",
    "WriteSettings",
    "load_settings",
    "secret",
]

ENV_PREFIX = "MEMORY_PROXY_"
# A key written as `os.environ/NAME` is read from that environment variable (LiteLLM's config
# convention), so that a config file needs no secret in it.
ENV_REFERENCE = "os.environ/"
# Arguments a route's `params` may not set: the route's own fields, or what the proxy sets.
RESERVED_PARAMS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "api_key",
        "api_base",
        "base_url",
        "timeout",
        "num_retries",
        "max_retries",
        "drop_params",
        "_skip_mcp_handler",
    }
)


def secret(value: SecretStr | None) -> str | None:
    """The key itself, where it is used (keys are SecretStr so that no repr or log shows them)."""
    return None if value is None else value.get_secret_value()


def resolve_key(value: SecretStr | None) -> SecretStr | None:
    """A blank key is no key; `os.environ/NAME` is the value of that variable, which must be set
    (a config that names a key it cannot find fails at start, not at the first call)."""
    key = secret(value)
    if key is None or not key.strip():
        return None
    if not key.startswith(ENV_REFERENCE):
        return value
    name = key.removeprefix(ENV_REFERENCE)
    found = os.environ.get(name)
    if not found or not found.strip():
        raise ValueError(f"names the environment variable {name}, which is not set")
    return SecretStr(found)


class RouteSettings(BaseModel):
    """One model (or family of models) served through litellm instead of `upstream_url`."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1,
        description="the model name clients ask for; `*` matches any text (claude-*, anthropic/*)",
    )
    litellm_model: str = Field(
        min_length=1,
        description="litellm model string (anthropic/claude-sonnet-4-5, gemini/gemini-2.5-flash, "
        "ollama/qwen3); each `*` in it takes the text the matching `*` of `model` matched",
    )
    api_base: str | None = Field(None, description="default: the provider's own URL")
    api_key: SecretStr | None = Field(
        None, description="the key, or os.environ/NAME; unset: the client's own bearer token"
    )
    timeout_s: float = Field(600.0, gt=0, description="a call taking longer is a 504")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="more litellm arguments for every call (max_tokens, vertex_project, "
        "aws_region_name, ...); a value the client sends wins",
    )

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        return resolve_key(value)

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(RESERVED_PARAMS & set(value))
        if reserved:
            raise ValueError(f"{', '.join(reserved)}: set by the route's own fields or the proxy")
        return value

    @model_validator(mode="after")
    def _wildcards(self) -> RouteSettings:
        if self.litellm_model.count("*") > self.model.count("*"):
            raise ValueError("litellm_model has more `*` than model has to fill them")
        return self


class RetrievalSettings(BaseModel):
    top_k: int = Field(20, ge=0, le=100, description="most memories injected per request")
    token_budget: int = Field(600, ge=0, description="most tokens the memory block may use")
    min_similarity: float = Field(
        0.3, description="cosine similarity below which a memory without keyword overlap is dropped"
    )
    timeout_ms: float = Field(
        500, gt=0, description="retrieval time budget; past it the request goes on without memory"
    )
    candidates: int = Field(
        50, ge=1, description="candidates taken from each retriever before fusion"
    )
    profile_budget: int = Field(
        300,
        ge=0,
        description="most of token_budget the standing profile may take; a profile that fits "
        "is injected whole on every request, a larger one by relevance and recency",
    )
    session_items: int = Field(8, ge=0, description="newest memories of the session considered")
    session_budget: int = Field(150, ge=0, description="most tokens of the session tier")
    recent_items: int = Field(
        3, ge=0, description="newest episodic memories of the user considered"
    )
    recent_hours: float = Field(
        72, gt=0, description="how old a memory may be to count as recent (its occurred_at)"
    )
    recent_budget: int = Field(100, ge=0, description="most tokens of the recent tier")
    cache_memories: int = Field(
        500_000,
        ge=1,
        description="memories held in process for search (about 4.6 KB each); least recently "
        "used users are evicted past it",
    )
    preload_users: int = Field(
        200, ge=0, description="users most recently active loaded in the background at start"
    )
    shared_store_refresh_s: float = Field(
        5.0,
        gt=0,
        description="with a Chroma server (several replicas), a user's cached memories are "
        "reloaded in the background when older than this: what another replica wrote shows "
        "up within about this time",
    )


class InjectSettings(BaseModel):
    placement: Literal["system", "cache-aware"] = Field(
        "cache-aware",
        description="where the memories go: `system` puts every tier in the system message; "
        "`cache-aware` keeps the standing profile there and puts what is chosen per turn with "
        "the user's message it was chosen for, so a conversation's prefix stays the same from "
        "turn to turn (providers' prompt caches stay warm)",
    )
    conversations: int = Field(
        20_000, ge=0, description="conversations whose injected blocks are remembered in process"
    )


class WriteSettings(BaseModel):
    dedup_similarity: float = Field(
        0.92, description="cosine similarity at or above which a new memory updates an existing one"
    )
    max_attempts: int = Field(
        5, ge=1, description="tries per queued turn before it is parked as failed"
    )
    drain_timeout_s: float = Field(
        10.0, ge=0, description="time given to pending writes at shutdown"
    )
    max_backlog: int = Field(
        100_000, ge=1, description="pending turns past which new turns are not queued"
    )
    default_ttl_days: float | None = Field(
        None, gt=0, description="memories written from chats expire after this many days"
    )
    redact_contacts: bool = Field(
        True,
        description="emails and phone numbers in chat turns (and `messages` of POST /memories) "
        "are removed before anything is stored, like secrets",
    )
    compact_on_erase: bool = Field(
        True,
        description="an erase (DELETE /memories?user_id=) also compacts the embedded store's "
        "files (chromadb's log and full-text index, SQLite VACUUM) so the erased text leaves "
        "the disk before the call returns; the time grows with the store",
    )


class ExtractionSettings(BaseModel):
    model: str | None = Field(
        None,
        description="litellm model string for LLM extraction (e.g. gpt-4.1-nano, "
        "openai/<name> for any OpenAI-compatible server, ollama/qwen3); unset = offline rules",
    )
    api_key: SecretStr | None = Field(
        None,
        description="the key or os.environ/NAME; default: the route's key when `model` names a "
        "route, upstream_api_key for a model the upstream serves, else litellm's own variable "
        "for the provider (ANTHROPIC_API_KEY, ...)",
    )
    api_base: str | None = Field(
        None,
        description="default: the route's api_base, upstream_url for a model the upstream "
        "serves (a bare name or openai/<name>), else the provider's own URL",
    )
    timeout_s: float = Field(30.0, gt=0)
    max_existing: int = Field(10, ge=0, le=50, description="similar memories shown to the model")
    use_client_key: bool = Field(
        False,
        description="extract a turn with the key its client sent (Authorization: Bearer). The key "
        "is held in memory only, never written to disk: turns still pending at a restart are "
        "extracted with the configured key, or by the offline rules if there is none",
    )

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        return resolve_key(value)


class UserKey(BaseModel):
    """An API key (the client's `Authorization: Bearer ...`) and the users it may act as."""

    key: SecretStr
    users: list[str] = Field(
        min_length=1, description="user ids; an entry ending in * matches ids with that prefix"
    )


class AuthSettings(BaseModel):
    allowed_origins: list[str] = Field(
        [],
        description="browser origins (scheme://host[:port]) allowed to call /memories; any "
        "other Origin, or Sec-Fetch-Site: cross-site, is refused",
    )
    allowed_hosts: list[str] = Field(
        [],
        description="Host names /memories answers without an admin key, besides loopback "
        "(a Host of another name is refused: DNS rebinding)",
    )
    user_keys: list[UserKey] = Field(
        [],
        description="bind users to API keys: when set, a request that names a user must carry "
        "a listed key whose users include it (403 otherwise)",
    )


class ObservabilitySettings(BaseModel):
    metrics: bool = Field(True, description="serve Prometheus metrics at /metrics")
    injection_log: bool = Field(
        True,
        description="record, per call with a user, which memories were injected (ids, tokens, "
        "retrieval time; no memory text) in injections.sqlite3 in data_dir",
    )
    injection_log_days: float = Field(
        7.0, gt=0, description="injection log entries older than this are deleted"
    )
    injection_log_max_rows: int = Field(
        100_000, ge=1, description="most injection log entries kept (the oldest go first)"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    upstream_url: str = "https://api.openai.com/v1"
    upstream_api_key: SecretStr | None = Field(
        None,
        description="used only when the client sends no Authorization header; may be "
        "os.environ/NAME",
    )
    anthropic_upstream_url: str = Field(
        "https://api.anthropic.com",
        description="the Anthropic-compatible API that /v1/messages goes to (without /v1)",
    )
    anthropic_api_key: SecretStr | None = Field(
        None, description="used only when the client sends neither x-api-key nor Authorization"
    )
    admin_key: SecretStr | None = Field(
        None,
        description="Bearer token /memories/* requires; unset: only loopback clients may use them",
    )
    upstream_timeout_s: float = Field(600.0, gt=0, description="read timeout for upstream calls")
    upstream_connect_timeout_s: float = Field(10.0, gt=0)
    max_connections: int = Field(512, ge=1)
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="larger chat bodies get 413")
    max_bytes_in_flight: int = Field(
        128 * 1024 * 1024,
        ge=1024,
        description="request body bytes the proxy holds at once across requests (chat and "
        "memory routes; pass-through bodies stream); past it a request gets 503 + Retry-After",
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="a connection must deliver a request's headers within this"
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="longest wait for the next piece of a request body"
    )
    data_dir: Path = Path("./memory-data")
    chroma_url: str | None = Field(
        None,
        description="a Chroma server (http://host:port); default is embedded chromadb in data_dir",
    )
    embedder: Literal["minilm", "litellm"] = "minilm"
    embedding_model: str | None = Field(
        None,
        description="with embedder=litellm: a litellm model string (text-embedding-3-small) "
        "or the name of a route",
    )
    embedding_api_key: SecretStr | None = Field(
        None, description="defaults as for extraction.api_key"
    )
    embedding_api_base: str | None = Field(None, description="defaults as for extraction.api_base")
    embed_threads: int = Field(
        2, ge=1, le=64, description="onnxruntime threads for the local model"
    )
    multilingual: Literal["auto", "off"] = Field(
        "auto",
        description="auto: memories and questions the English model cannot place (Chinese, "
        "other scripts and languages) use multilingual-e5-small, loaded on first need; off: "
        "the primary model for everything",
    )
    mcp_enabled: bool = Field(
        True, description="serve MCP (streamable HTTP) at /mcp; off saves the SDK's ~1.5 s import"
    )
    config_file: Path | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per line (for log collectors)"
    )
    retrieval: RetrievalSettings = RetrievalSettings()
    inject: InjectSettings = InjectSettings()
    write: WriteSettings = WriteSettings()
    extraction: ExtractionSettings = ExtractionSettings()
    auth: AuthSettings = AuthSettings()
    routes: list[RouteSettings] = Field(
        default_factory=list,
        description="models served through litellm (Anthropic, Gemini, Bedrock, Ollama, ...); "
        "a model no route matches goes to upstream_url unchanged",
    )
    observability: ObservabilitySettings = ObservabilitySettings()

    @field_validator("upstream_url", "anthropic_upstream_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the upstream URL must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("admin_key")
    @classmethod
    def _check_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        # `MEMORY_PROXY_ADMIN_KEY=` must not become a key that an empty Bearer token matches.
        value = resolve_key(value)
        key = secret(value)
        if key is None:
            return None
        if not (key.isascii() and key.isprintable()) or " " in key:
            raise ValueError("admin_key must be printable ASCII without spaces (an HTTP header)")
        return value

    @field_validator("upstream_api_key", "anthropic_api_key", "embedding_api_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        return resolve_key(value)

    @field_validator("routes")
    @classmethod
    def _unique_routes(cls, routes: list[RouteSettings]) -> list[RouteSettings]:
        seen: set[str] = set()
        for route in routes:
            if route.model in seen:
                raise ValueError(f"two routes for the model {route.model!r}")
            seen.add(route.model)
        return routes

    @model_validator(mode="after")
    def _one_body_fits_in_flight(self) -> Settings:
        if self.max_bytes_in_flight < self.max_body_bytes:
            raise ValueError("max_bytes_in_flight must be at least max_body_bytes")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file(init_settings)
        if config_file is not None:
            if not config_file.is_file():
                raise FileNotFoundError(f"config file not found: {config_file}")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def _config_file(init_settings: PydanticBaseSettingsSource) -> Path | None:
    """The YAML file named by the flag or, failing that, the environment."""
    init_kwargs: dict[str, Any] = (
        init_settings.init_kwargs if isinstance(init_settings, InitSettingsSource) else {}
    )
    value = init_kwargs.get("config_file") or os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    return Path(value) if value else None


def load_settings(**flags: Any) -> Settings:
    """Settings from command-line flags (None means 'not given') over env, file and defaults."""
    return Settings(**{key: value for key, value in flags.items() if value is not None})
