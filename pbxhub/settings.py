"""Every setting of pbxhub in one place, read from `PBXHUB_*` environment variables (or .env)."""

from __future__ import annotations

import json
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

import providers
from api.proxies import DEFAULT_TRUSTED_PROXIES, parse_networks
from pbxhub.private_files import private_folder, restrict_files, write_private_file


class Settings(BaseSettings):
    """Embedded defaults: everything on this machine, state under `data_dir`."""

    model_config = SettingsConfigDict(env_prefix="PBXHUB_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    # Empty means the SQLite file `pbxhub.db` under `data_dir`.
    database_url: str = ""
    providers_dir: Path = Path(providers.__file__).resolve().parent

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "pbxhub-calls"
    # Call workflow ids are `<prefix>-<channel id>-<PBX session id>`.
    workflow_id_prefix: str = "call"
    temporal_ui_port: int = 8233

    # Where a separate worker (`pbxhub worker`) serves its Prometheus metrics at /metrics; 0:
    # not served. `pbxhub dev`'s worker counts into the API's /metrics instead.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    # Log lines as "text" (one readable line each) or "json" (one object each, for collectors);
    # DEBUG shows full phone numbers, other levels mask them.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # How long an idle connection stays open: longer than a PBX's or proxy's own idle time, so
    # the client closes it first (a server closing it as a webhook goes out loses that request).
    keep_alive_seconds: int = Field(default=75, gt=0)
    # What PBXs must call: the address they reach us at (behind a proxy, the proxy's).
    public_base_url: str = ""
    # Empty means: generate once and keep in `data_dir/admin_key`.
    admin_key: str = ""

    # How long a finished, answered call waits for its recording before the workflow closes.
    recording_wait_seconds: int = 15 * 60
    # A call with no finish after this long is written with what is known, marked incomplete.
    max_call_seconds: int = 4 * 60 * 60
    # A finished call is written once its webhooks have been quiet this long (they race).
    settle_seconds: int = 2
    # Webhook bodies above this size get 413 before they are parsed.
    max_body_bytes: int = 256 * 1024
    # The largest call recording the telephony API takes as an upload (`audio_record`).
    max_upload_bytes: int = 100 * 1024 * 1024

    # Recordings downloaded from PBXs: kept under `data_dir/recordings` ("local"), or in an
    # S3-compatible bucket ("s3": the bucket and, when not from boto3's own chain, the keys).
    recording_storage: Literal["local", "s3"] = "local"
    recording_s3_bucket: str = ""
    recording_s3_prefix: str = "recordings/"
    recording_s3_endpoint_url: str = ""
    recording_s3_region: str = ""
    recording_s3_access_key_id: str = ""
    recording_s3_secret_access_key: str = ""
    # Limits of one download: its size, the connection, a silence, the whole download.
    recording_max_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    recording_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    recording_read_timeout_seconds: float = Field(default=30.0, gt=0)
    recording_download_timeout_seconds: float = Field(default=600.0, gt=0)
    # A file the PBX has not finished saving is asked for again after this long (doubling, up
    # to 5 minutes between tries), this many times in all.
    recording_retry_seconds: float = Field(default=10.0, gt=0)
    recording_fetch_attempts: int = Field(default=10, ge=1)
    # How long the ingress waits for Temporal to acknowledge an event before answering 503.
    temporal_rpc_timeout_seconds: float = 5.0
    # How long connecting to Temporal, or checking its health, may take: while Temporal is
    # down the ingress answers 503 within about this long, and checks in the background.
    temporal_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    # How long a PBX's routing question (UIS interactive, Binotel apiCallSettings, Zadarma
    # NOTIFY_START) waits for the store before it gets the spec's fallback reply.
    routing_timeout_seconds: float = Field(default=0.8, gt=0)
    # Behind a reverse proxy: the header naming the client ("X-Forwarded-For", "X-Real-IP").
    # Empty: the TCP peer is the client. Matters for channels that allow only some sources.
    trusted_proxy_header: str = ""
    # The proxies whose header is believed (CIDRs, comma-separated or a JSON list); in an
    # X-Forwarded-For chain the client is the right-most address outside them.
    trusted_proxies: Annotated[list[str], NoDecode] = list(DEFAULT_TRUSTED_PROXIES)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else text.split(",")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)  # ValueError names the bad entry
        return [network.strip() for network in value if network.strip()]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'pbxhub.db').resolve()}"

    @property
    def resolved_public_base_url(self) -> str:
        base = self.public_base_url or f"http://{self.api_host}:{self.api_port}"
        return base.rstrip("/")

    @cached_property
    def resolved_admin_key(self) -> str:
        """The configured key, or one generated on first start and kept in the data folder."""
        if self.admin_key:
            return self.admin_key
        key_file = private_folder(self.data_dir) / "admin_key"
        if key_file.exists():
            restrict_files(key_file)
            return key_file.read_text().strip()
        key = secrets.token_urlsafe(24)
        write_private_file(key_file, key + "\n")
        return key
