"""What a channel's settings say of its recordings: what it keeps of them (the file, nothing,
the PBX's link, a link the PBX authorises afresh), which hosts their links may point to, and
what became of a call's recording; the channel's recording settings checked in one place."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final

from providers.spec import ProviderSpec
from recordings.limits import check_recording_limit_settings
from recordings.pbx_hosts import allowed_pbx_hosts, check_pbx_host_settings
from recordings.url_guard import LinkPolicy

__all__ = [
    "KEEP_AUTHORIZED_LINK",
    "KEEP_FILE",
    "KEEP_LINK",
    "KEEP_NOTHING",
    "MODE_STATUS",
    "RECORDING_HOSTS_SETTING",
    "RECORDING_MODES",
    "RECORDING_STATUSES",
    "RECORDING_STORAGE_SETTING",
    "check_recording_settings",
    "recording_hosts",
    "recording_link_policy",
    "recording_mode",
]

# What a channel keeps of its calls' recordings (channel.settings["recording_storage"]), as the
# reference CRM offers it: the file in pbxhub (default), nothing, the PBX's link, or a link the
# PBX must authorise afresh at playback time.
RECORDING_STORAGE_SETTING: Final = "recording_storage"
KEEP_FILE: Final = "keep_file"
KEEP_NOTHING: Final = "keep_nothing"
KEEP_LINK: Final = "keep_link"
KEEP_AUTHORIZED_LINK: Final = "keep_authorized_link"
RECORDING_MODES: Final = (KEEP_FILE, KEEP_NOTHING, KEEP_LINK, KEEP_AUTHORIZED_LINK)
# Hosts a channel adds to its provider's recording hosts (channel.settings["recording_hosts"]).
RECORDING_HOSTS_SETTING: Final = "recording_hosts"
_HOST: Final = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.?$")

# What became of a call's recording (calls.recording_status): the mode's own word when it keeps
# no file, else kept, or refused (the link guard said no) / failed (the PBX gave no file).
MODE_STATUS: Final = {
    KEEP_NOTHING: "not_kept",
    KEEP_LINK: "linked",
    KEEP_AUTHORIZED_LINK: "authorized_link",
}
RECORDING_STATUSES: Final = frozenset({"kept", "refused", "failed", *MODE_STATUS.values()})


def recording_mode(settings: Mapping[str, Any]) -> str:
    """The channel's recording mode; the default (and what an unknown value falls back to)
    is keeping the file."""
    mode = settings.get(RECORDING_STORAGE_SETTING)
    return mode if mode in RECORDING_MODES else KEEP_FILE


def check_recording_settings(settings: Mapping[str, Any]) -> None:
    """ValueError naming the setting when a channel's recording settings are not usable: the
    mode, the recording hosts, the PBX's private host:port allow-list and the limits."""
    check_pbx_host_settings(settings)
    check_recording_limit_settings(settings)
    mode = settings.get(RECORDING_STORAGE_SETTING)
    if mode is not None and mode not in RECORDING_MODES:
        raise ValueError(
            f"{RECORDING_STORAGE_SETTING} must be one of {', '.join(RECORDING_MODES)}, not {mode!r}"
        )
    hosts = settings.get(RECORDING_HOSTS_SETTING)
    if hosts is None:
        return
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    if not isinstance(hosts, list) or not all(isinstance(host, str) for host in hosts):
        raise ValueError(f"{RECORDING_HOSTS_SETTING} must be a list of host names")
    for host in hosts:
        text = host.strip().lower()
        if text and not (_HOST.match(text) or _is_ip(text.strip("[]"))):
            raise ValueError(
                f"{RECORDING_HOSTS_SETTING}: {host!r} is not a host name, *.wildcard or IP address"
            )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def recording_hosts(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The recording hosts the channel allows besides its provider's (a list or a
    comma-separated string)."""
    hosts = settings.get(RECORDING_HOSTS_SETTING) or ()
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    return tuple(str(host).strip() for host in hosts if str(host).strip())


def recording_link_policy(settings: Mapping[str, Any], spec: ProviderSpec | None) -> LinkPolicy:
    """Where a channel's recording links may point (to be fetched, or for a player to be sent
    to): its provider's and its own recording hosts, and its PBX's exact host:port."""
    return LinkPolicy(
        hosts=(*(spec.recording_hosts if spec else ()), *recording_hosts(settings)),
        private_hosts=allowed_pbx_hosts(settings),
    )
