"""Every setting of pbxhub in one place, read from `PBXHUB_*` environment variables (or .env)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

import providers


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

    api_host: str = "127.0.0.1"
    api_port: int = 8000
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
    # How long the ingress waits for Temporal to acknowledge an event before answering 503.
    temporal_rpc_timeout_seconds: float = 5.0

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
        key_file = self.data_dir / "admin_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(24)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        return key
