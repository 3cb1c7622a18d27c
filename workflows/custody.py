"""Recording custody inside a call's workflow: which links are fetched (one that works once at
the moment it arrives), when, how often, and what the written call keeps of its recording."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.recordings import RecordingActivities
    from contracts.call_workflow import CallInput, CallResult
    from contracts.events import CallEvent, EventKind
    from contracts.legacy_fields import said_in_extra
    from contracts.messages import (
        ActionCall,
        FetchedRecording,
        FetchRecordingInput,
        KeepRecordingInput,
    )
    from workflows.call_events import CallEvents
    from workflows.store_activity import store_activity
    from workflows.summary import CallSummary

# Workflows started before recording custody existed replay without it.
RECORDING_CUSTODY_PATCH = "recording-custody"
# A recording the PBX announces without a link is asked of its API (the spec's recording_link).
RECORDING_LINK_PATCH = "recording-link-by-pbx-api"
# A recording that comes while the run is closing (keeping the one before it) is handed, with
# the events that brought it, to a continued run that amends the call.
LATE_RECORDING_PATCH = "recording-while-closing"
# An event says its recording link works once (`recording_link_once`): such a link is fetched
# the moment it arrives, before anything else, and its file kept whatever the channel keeps.
# Runs from before that field read the flag where events carried it then (said_in_extra).
ONE_TIME_LINK_PATCH = "recording-link-once-field"
# A channel's own recording limits (attempts, back-off) are applied by the fetch itself, under
# this bound; runs from before that leave the attempts to the retry policy alone.
CHANNEL_RECORDING_LIMITS_PATCH = "channel-recording-limits"
# The key a link asked of the PBX's API is fetched under (webhook links are keyed by themselves).
ASKED_LINK = "pbx-api:recording_link"
# The most attempts a channel may set (recordings.limits.MAX_FETCH_ATTEMPTS; a test holds
# them equal): the workflow imports no store code.
FETCH_ATTEMPTS_CEILING = 50
# Upper bound of one download attempt; the download's own size and time limits come first.
FETCH_TIMEOUT = timedelta(minutes=30)
# the fetch heartbeats every 10 s: a worker that died mid-fetch is noticed in a minute
FETCH_HEARTBEAT_TIMEOUT = timedelta(minutes=1)


def action_call(session_id: str, summary: CallSummary) -> ActionCall:
    """The call as the PBX's recording_link action reads it."""
    return ActionCall(
        session_id=session_id,
        started_at=summary.started_at,
        recording_url=summary.recording_url,
        extra=dict(summary.extra),
    )


class RecordingCustody:
    """The recordings of one call's run: in pbxhub's custody already (uploaded audio), being
    fetched, fetched; and the recording the run last decided about."""

    def __init__(self, data: CallInput, events: CallEvents) -> None:
        self._data = data
        self._events = events
        self._in_custody: set[str] = set()
        self._fetching: set[str] = set()
        self._fetched: dict[str, FetchedRecording] = {}
        # Whether a recording announced without a link is asked of the PBX's API.
        self.asks_pbx = False
        # Whether a link works once is the event's canonical field (not the PBX's parameter).
        self.link_once_field = False
        # The recording the run last decided about, and how many events it had then.
        self._decided: tuple[str | None, int] = (None, 0)

    def start(self, data: CallInput, *, asks_pbx: bool, link_once_field: bool) -> None:
        self._data = data
        self.asks_pbx = asks_pbx
        self.link_once_field = link_once_field

    def take_uploaded(self, url: str) -> None:
        """Uploaded, and stored by the API already: its link is ours, nothing to fetch."""
        self._in_custody.add(url)

    def awaits_recording(self) -> bool:
        """No recording yet, and the PBX has not said that none is coming (nor, when its API is
        asked for links, that one is ready without a link)."""
        summary = self._events.summary
        if self.asks_pbx and summary.recording_announced:
            return False
        return summary.recording_url is None and summary.recording_expected is not False

    # -- a link that works once ---------------------------------------------------------------

    def _one_time_link(self) -> tuple[str, int | None] | None:
        """A link the PBX says works once, not yet being fetched (and its duration)."""
        for event in self._events:
            url = event.recording_url
            if (
                event.kind == EventKind.RECORDING_READY
                and url
                and self._works_once(event)
                and url not in self._fetching
                and url not in self._in_custody
            ):
                return url, event.recording_duration
        return None

    def _works_once(self, event: CallEvent) -> bool:
        if self.link_once_field:
            return bool(event.recording_link_once)
        # a run from before the field: its events said so in extra; the field, in events since
        return bool(event.recording_link_once) or said_in_extra(event, "recording_link_once")

    async def fetch_one_time_links(self) -> None:
        """Runs beside the call: a one-time link is fetched the moment it arrives, before the
        call is written (a second fetch would find it gone)."""
        while True:
            await workflow.wait_condition(lambda: self._one_time_link() is not None)
            link = self._one_time_link()
            assert link is not None
            await self._fetch(link[0], call_id=None, duration=link[1], once=True)

    # -- fetching and keeping ------------------------------------------------------------------

    async def _fetch(
        self,
        url: str | None,
        *,
        call_id: int | None,
        duration: int | None,
        call: ActionCall | None = None,
        once: bool = False,
    ) -> FetchedRecording:
        """Keep the file behind a link (when the channel keeps files, or the link works once;
        without a link, the one the PBX's API gives), retrying with back-off while the PBX has
        no file yet; what could not be had comes back as "failed"."""
        data = self._data
        key = url or ASKED_LINK
        self._fetching.add(key)
        # the fetch gives up itself after the channel's attempts (else the installation's)
        own_limits = workflow.patched(CHANNEL_RECORDING_LIMITS_PATCH)
        attempts = data.recording_fetch_attempts
        bound = max(attempts, FETCH_ATTEMPTS_CEILING) if own_limits else attempts
        try:
            fetched = await workflow.execute_activity_method(
                RecordingActivities.fetch_recording,
                FetchRecordingInput(
                    data.channel_id,
                    url,
                    call_id,
                    duration,
                    call,
                    session_id=data.session_id,
                    link_once=once,
                    fetch_attempts=attempts if own_limits else None,
                ),
                start_to_close_timeout=FETCH_TIMEOUT,
                heartbeat_timeout=FETCH_HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=data.recording_retry_seconds),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=5),
                    maximum_attempts=bound,
                ),
            )
        except ActivityError as error:
            cause = error.cause
            code, reason = "error", str(cause or error)
            if isinstance(cause, ApplicationError):
                reason = cause.message
                code = str(cause.details[0]) if cause.details else cause.type or code
            workflow.logger.warning("recording of %s not fetched: %s", data.session_id, reason)
            fetched = FetchedRecording(
                mode="keep_file",
                status="failed",
                error_code=code,
                error=f"{reason} (gave up after {bound} attempts)",
            )
        self._fetched[key] = fetched
        return fetched

    def _recording_key(self, summary: CallSummary) -> str | None:
        """The call's recording as the run keeps it: its link, or the PBX's API's one."""
        if summary.recording_url:
            return summary.recording_url
        return ASKED_LINK if self.asks_pbx and summary.recording_announced else None

    def late_recording(self, result: CallResult) -> list[CallEvent]:
        """The events since the recording was last decided about, when they bring another
        recording to a written call (one uploaded through the API is stored already)."""
        decided, seen = self._decided
        key = self._recording_key(self._events.summary)
        if result.call_id is None or key in (None, decided) or key in self._in_custody:
            return []
        return self._events.since(seen)

    async def keep(self, result: CallResult) -> CallResult:
        """The written call's recording, kept as its channel says: the file (fetched now, or
        already when the link was one-time), the link, or nothing; the outcome goes on the
        call."""
        summary = self._events.summary
        self._decided = (self._recording_key(summary), len(self._events))
        url = summary.recording_url
        if result.call_id is None or (url and url in self._in_custody):
            return result
        if not url and not (self.asks_pbx and summary.recording_announced):
            return result
        key = url or ASKED_LINK
        if key in self._fetching:
            await workflow.wait_condition(lambda: key in self._fetched)
            fetched = self._fetched[key]
        else:
            fetched = await self._fetch(
                url,
                call_id=result.call_id,
                duration=summary.recording_duration,
                # the PBX's API may be the way to the file, with or without a link
                call=action_call(self._data.session_id, summary),
            )
        kept = await store_activity(
            RecordingActivities.keep_recording, KeepRecordingInput(result.call_id, url, fetched)
        )
        return replace(result, recording_status=kept.status, recording_error=kept.error)
