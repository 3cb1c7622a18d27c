"""Recording custody's Temporal activities: keep a call's recording as its channel says (the
file, downloaded through the SSRF guard by `recordings.download` into the configured storage,
or the PBX's link when it is one players may be sent to), and record on the call what became of
it (kept, linked, refused, failed). The mechanisms are the `recordings` package's.

A PBX that has no file yet or cannot be reached raises a retryable error, so the workflow's
retry policy backs off and tries again, until the channel's (else the installation's) attempts
are spent; anything else that cannot succeed is returned as an outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeats import heartbeating
from activities.pbx import send_action
from contracts.messages import (
    FetchedRecording,
    FetchRecordingInput,
    KeepRecordingInput,
    KeptFile,
    KeptRecording,
    PbxActionInput,
)
from crm import Channel, Recording, Store
from providers.actions import RECORDING_LINK
from providers.spec import ProviderSpec
from recordings.audio import AUDIO_FORMATS, sniff_audio
from recordings.download import Downloaded, DownloadFailed, DownloadLimits, download
from recordings.limits import ChannelRecordingLimits, recording_limits
from recordings.policy import (
    KEEP_FILE,
    KEEP_LINK,
    KEEP_NOTHING,
    MODE_STATUS,
    recording_link_policy,
    recording_mode,
)
from recordings.storage import RecordingStorage, StorageUnavailable
from recordings.url_guard import LinkPolicy, LinkRefused, Resolver, check_link, system_resolver

__all__ = ["RecordingActivities"]

# How long a link asked of the PBX's API should work: long enough to download it, or (a channel
# that keeps the PBX's link) as long as the PBX allows (its spec holds it to the PBX's range).
FETCH_LINK_SECONDS: Final = 30 * 60
# well inside the fetch's heartbeat timeout (workflows/custody.py FETCH_HEARTBEAT_TIMEOUT)
FETCH_HEARTBEAT_SECONDS: Final = 10.0
LINK_KEPT_SECONDS: Final = 60 * 24 * 60 * 60

# ApplicationError types the workflow's retry policy retries (everything else it gives up on).
NOT_READY_ERROR: Final = "RecordingNotReady"
UNREACHABLE_ERROR: Final = "RecordingUnreachable"
# The installation's limits when none are handed in (PBXHUB_RECORDING_* set them in production).
DEFAULT_LIMITS: Final = DownloadLimits()
# The longest back-off between two attempts, as the workflow's retry policy has it.
_LONGEST_RETRY_SECONDS: Final = 5 * 60


class RecordingActivities:
    """Download and keep recordings, bound to the store, the provider specs (their recording
    hosts, their API's recording_link), the recording storage (None: nowhere to keep files)
    and the download limits (a channel's own settings replace them). `resolve`, `transport`
    (downloads) and `pbx_transport` (the PBX's API) are for tests."""

    def __init__(
        self,
        store: Store,
        specs: Mapping[str, ProviderSpec],
        *,
        storage: RecordingStorage | None,
        limits: DownloadLimits = DEFAULT_LIMITS,
        resolve: Resolver = system_resolver,
        transport: httpx.BaseTransport | None = None,
        pbx_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._store = store
        self._specs = specs
        self._storage = storage
        self._limits = limits
        self._resolve = resolve
        self._transport = transport
        self._pbx_transport = pbx_transport

    @classmethod
    def local(
        cls, store: Store, specs: Mapping[str, ProviderSpec], folder: Path, **options: Any
    ) -> RecordingActivities:
        """Recordings kept in a folder of this machine."""
        return cls(store, specs, storage=RecordingStorage.local(folder), **options)

    @activity.defn
    def fetch_recording(self, data: FetchRecordingInput) -> FetchedRecording:
        """Keep the file behind a recording link, when the channel keeps files (or the link
        works once). Raises a retryable ApplicationError while the PBX has no file yet or cannot
        be reached, until the channel's (else the installation's) attempts are spent.
        Heartbeats while it works, so a dead worker's attempt is retried within a minute."""
        with heartbeating(FETCH_HEARTBEAT_SECONDS):
            return self._fetch_recording(data)

    def _fetch_recording(self, data: FetchRecordingInput) -> FetchedRecording:
        channel = self._store.get_channel(data.channel_id)
        if channel is None:
            return FetchedRecording(
                mode=KEEP_FILE,
                status="failed",
                error_code="no_channel",
                error=f"no channel {data.channel_id}",
            )
        own = recording_limits(channel.settings)
        try:
            return self._fetch(channel, data, own)
        except ApplicationError as error:
            if error.type not in (NOT_READY_ERROR, UNREACHABLE_ERROR):
                raise
            return _retry_or_give_up(error, own, data)

    def _fetch(
        self, channel: Channel, data: FetchRecordingInput, own: ChannelRecordingLimits
    ) -> FetchedRecording:
        mode = recording_mode(channel.settings)
        if data.link_once and data.url and mode == KEEP_LINK:
            # a link that works once cannot be kept as a link: its file is kept instead
            mode = KEEP_FILE
        call_id = data.call_id
        if call_id is None and data.session_id is not None:
            written = self._store.get_call_by_session(data.channel_id, data.session_id)
            call_id = written.id if written is not None else None
        if mode == KEEP_FILE and call_id is not None:
            # the webhook again (a PBX's retry, perhaps after the call closed): what is kept
            # stays kept, and nothing is downloaded or asked of the PBX twice
            kept = self._kept_already(call_id, data.url)
            if kept is not None:
                return FetchedRecording(mode=mode, status="kept", recording_id=kept.id)
        url, asked = data.url, None
        spec = self._specs.get(channel.provider)
        policy = recording_link_policy(channel.settings, spec)
        if mode == KEEP_FILE and spec is not None and spec.recording_files_from == "api":
            # the webhooks' link is a page for people (the PBX cabinet's): the file is the API's
            url = None
        if url is None:
            # the webhooks gave no link: the PBX's API has one, for the modes that need it now
            if mode not in (KEEP_FILE, KEEP_LINK):
                return FetchedRecording(mode=mode)
            answer = self._ask_link(channel, data, mode)
            if isinstance(answer, FetchedRecording):
                return answer
            if mode == KEEP_LINK:
                return replace(_linked(answer, policy), link=answer)
            url = asked = answer
        elif mode == KEEP_LINK:
            return _linked(url, policy)
        elif mode != KEEP_FILE:
            return FetchedRecording(mode=mode)
        return self._keep_file(url, policy, data, own, asked)

    def _keep_file(
        self,
        url: str,
        policy: LinkPolicy,
        data: FetchRecordingInput,
        own: ChannelRecordingLimits,
        asked: str | None,
    ) -> FetchedRecording:
        """Download the file behind `url` (`asked` of the PBX's API, or None: the webhook's)
        through the guard and keep it in storage, within the channel's (else the
        installation's) size limit."""
        mode = KEEP_FILE
        if self._storage is None:
            return FetchedRecording(
                mode=mode,
                status="failed",
                error_code="no_storage",
                error="pbxhub has no recording storage configured",
            )
        storage = self._storage
        limits = self._limits
        if own.max_bytes is not None:
            limits = replace(limits, max_bytes=own.max_bytes)
        try:
            got = download(
                url,
                policy,
                spool=storage.spool,
                limits=limits,
                resolve=self._resolve,
                transport=self._transport,
            )
        except LinkRefused as refused:
            activity.logger.warning("recording link refused: %s", refused.reason)
            return FetchedRecording(
                mode=mode,
                status="refused",
                error_code=refused.code,
                error=refused.reason,
                link=asked,
            )
        except DownloadFailed as failed:
            if failed.retryable:
                activity.logger.info("recording not fetched yet: %s", failed.reason)
                error_type = NOT_READY_ERROR if failed.code == "not_ready" else UNREACHABLE_ERROR
                raise ApplicationError(failed.reason, failed.code, type=error_type) from None
            activity.logger.warning("recording not fetched: %s", failed.reason)
            return FetchedRecording(
                mode=mode, status="failed", error_code=failed.code, error=failed.reason, link=asked
            )
        kind = sniff_audio(got.head)
        if kind is None:
            got.path.unlink(missing_ok=True)
            reason = f"the link gave no audio file ({', '.join(AUDIO_FORMATS)})"
            # what it gave instead is the file host's: for the log only
            activity.logger.warning("recording not kept: %s; it starts %r", reason, got.head[:16])
            return FetchedRecording(
                mode=mode, status="failed", error_code="not_audio", error=reason, link=asked
            )
        return FetchedRecording(
            mode=mode, status="kept", file=_keep(storage, got, kind, data), link=asked
        )

    def _kept_already(self, call_id: int, url: str | None) -> Recording | None:
        """The file the call keeps from this link; without a link (the PBX's API is asked for
        the call's one recording), the file the call keeps at all."""
        if url is not None:
            return self._store.find_recording_by_source(call_id, url)
        kept = self._store.list_recordings(call_id)
        return kept[0] if kept else None

    def _ask_link(
        self, channel: Channel, data: FetchRecordingInput, mode: str
    ) -> str | FetchedRecording:
        """A link from the PBX's API (its spec's recording_link action): the URL, or what went
        wrong as an outcome. Raises a retryable ApplicationError while the PBX has no file yet
        or cannot be reached."""
        spec = self._specs.get(channel.provider)
        if spec is None or RECORDING_LINK not in spec.actions or data.call is None:
            return FetchedRecording(
                mode=mode,
                status="failed",
                error_code="no_link",
                error=(
                    "the PBX said a recording is ready but gave no link, and the "
                    f"{channel.provider} spec has no recording_link action to ask its API for one"
                ),
            )
        lifetime = LINK_KEPT_SECONDS if mode == KEEP_LINK else FETCH_LINK_SECONDS
        request = PbxActionInput(
            channel.id, RECORDING_LINK, call=data.call, lifetime_seconds=lifetime
        )
        try:
            result = send_action(
                channel, spec, request, transport=self._pbx_transport, resolve=self._resolve
            )
        except ApplicationError as error:
            activity.logger.info("recording link not asked: %s", error.message)
            raise ApplicationError(
                error.message, "pbx_unreachable", type=UNREACHABLE_ERROR
            ) from None
        # The call's reason is for employees too: pbxhub's words, never the PBX's answer (its
        # spec's message, which may quote it, went to the log).
        if result.retry:
            reason = f"the PBX has no recording yet (HTTP {result.status})"
            activity.logger.info("recording not ready at the PBX: %s", reason)
            raise ApplicationError(reason, "not_ready", type=NOT_READY_ERROR)
        if not result.ok or not result.link:
            if not result.sent:
                # what the channel lacks (a key, an allowed address): pbxhub's own words
                reason = result.message or "the PBX's API could not be asked"
            elif not result.ok:
                reason = f"the PBX refused to give a recording link (HTTP {result.status})"
            else:
                reason = f"the PBX gave no recording link (HTTP {result.status})"
            activity.logger.warning("recording link refused: %s", reason)
            return FetchedRecording(
                mode=mode, status="failed", error_code="pbx_refused", error=reason
            )
        return result.link

    @activity.defn
    def keep_recording(self, data: KeepRecordingInput) -> KeptRecording:
        """Record on the call what became of its recording (and the file, when one was kept)."""
        fetched = data.fetched
        recording_id = fetched.recording_id
        if fetched.file is not None:
            file = fetched.file
            recording, _ = self._store.add_recording(
                call_id=data.call_id,
                storage=file.storage,
                location=file.location,
                content_type=file.content_type,
                size=file.size,
                sha256=file.sha256,
                source_url=data.url or fetched.link,
                duration_seconds=file.duration_seconds,
            )
            recording_id = recording.id
        status = fetched.status or MODE_STATUS.get(fetched.mode, "kept")
        self._store.set_recording_outcome(
            data.call_id,
            status=status,
            error_code=fetched.error_code,
            error=fetched.error,
            # keep_nothing: not even the PBX's link stays on the call
            clear_link=fetched.mode == KEEP_NOTHING,
            # keep_link, the webhooks giving none: the one the PBX's API gave
            link=fetched.link if fetched.mode == KEEP_LINK else None,
        )
        return KeptRecording(status=status, recording_id=recording_id, error=fetched.error)


def _linked(url: str, policy: LinkPolicy) -> FetchedRecording:
    """keep_link: the PBX's link is kept for players to be sent to, when it is a link they may
    be sent to (http(s), a recording host); otherwise it is refused, with why."""
    try:
        check_link(url, policy)
    except LinkRefused as refused:
        activity.logger.warning("recording link not kept: %s", refused.reason)
        return FetchedRecording(
            mode=KEEP_LINK, status="refused", error_code=refused.code, error=refused.reason
        )
    return FetchedRecording(mode=KEEP_LINK)


def _retry_or_give_up(
    error: ApplicationError, own: ChannelRecordingLimits, data: FetchRecordingInput
) -> FetchedRecording:
    """Once the channel's (else the installation's) attempts are spent, what was last said
    becomes the outcome; before that the error goes back to the retry policy, after the
    channel's own back-off when it sets one."""
    attempt = activity.info().attempt
    allowed = own.fetch_attempts or data.fetch_attempts
    code = str(error.details[0]) if error.details else error.type or "error"
    if allowed is not None and attempt >= allowed:
        activity.logger.warning("recording not fetched after %d attempts: %s", attempt, error)
        return FetchedRecording(
            mode=KEEP_FILE,
            status="failed",
            error_code=code,
            error=f"{error.message} (gave up after {allowed} attempts)",
        )
    if own.retry_seconds is None:
        raise error
    delay = min(own.retry_seconds * 2 ** (attempt - 1), _LONGEST_RETRY_SECONDS)
    raise ApplicationError(
        error.message, code, type=error.type, next_retry_delay=timedelta(seconds=delay)
    ) from None


def _keep(
    storage: RecordingStorage, got: Downloaded, kind: str, data: FetchRecordingInput
) -> KeptFile:
    """Put a downloaded file in storage under its checksum; its length is the WAV header's,
    else the PBX's."""
    try:
        kept = storage.keep(got, kind)
    except StorageUnavailable as error:
        # the storage may be down for a while: the retry policy tries again
        raise ApplicationError(str(error), "storage", type=UNREACHABLE_ERROR) from None
    return replace(kept, duration_seconds=kept.duration_seconds or data.pbx_duration)
