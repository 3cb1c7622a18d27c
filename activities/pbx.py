"""PBX actions: the requests pbxhub sends to a channel's PBX (click-to-call, channel setup, a
recording link), rendered from the provider spec's `actions` and sent over HTTP with a timeout
to the address the channel keeps, following a redirect only where the action says so."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.models import PbxActionInput, PbxActionResult, RecordPbxActionInput
from crm import Channel, Store
from providers.actions import (
    ANSWER_TEXT_LIMIT,
    ActionError,
    ActionSpec,
    OutboundRequest,
    follow_redirect,
    read_answer,
    render_action,
)
from providers.engine import ChannelContext
from providers.spec import ProviderSpec

# The channel setting a refused channel_setup (or other recorded action) is kept in, for admins.
LAST_ERROR_SETTING = "last_error"
# A PBX's answer is read up to this size: the rest is never needed.
_MAX_ANSWER_BYTES = 64 * 1024


class PbxActivities:
    """Activities that talk to PBXs, bound to the store (the channel) and the provider specs.

    `transport` is for tests that hand in their own (production uses httpx's default).
    """

    def __init__(
        self,
        store: Store,
        specs: Mapping[str, ProviderSpec],
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._store = store
        self._specs = specs
        self._transport = transport

    @activity.defn
    def send_pbx_action(self, data: PbxActionInput) -> PbxActionResult:
        """Send the action once and read the PBX's answer. A PBX that cannot be reached raises
        (the workflow's retry policy decides); a PBX that answers, whatever it says, does not."""
        channel = self._store.get_channel(data.channel_id)
        if channel is None:
            return PbxActionResult(ok=False, sent=False, message=f"no channel {data.channel_id}")
        return send_action(
            channel, self._specs.get(channel.provider), data, transport=self._transport
        )

    @activity.defn
    def record_pbx_action(self, data: RecordPbxActionInput) -> None:
        """Keep the outcome as the channel's `last_error` (removed once the PBX says ok)."""
        result = data.result
        error: dict[str, Any] | None = None
        if not result.ok:
            error = {
                "action": data.action,
                "status": result.status,
                "message": result.message or f"the PBX answered {result.status}",
                "answer": result.answer or None,
                "at": data.at.isoformat(),
            }
        self._store.update_channel(data.channel_id, settings_patch={LAST_ERROR_SETTING: error})


def send_action(
    channel: Channel,
    spec: ProviderSpec | None,
    data: PbxActionInput,
    *,
    transport: httpx.BaseTransport | None = None,
) -> PbxActionResult:
    """Render the channel's action, send it once and read the answer (ok, a link, not ready
    yet, or what the person should fix). Raises a `PbxUnreachable` ApplicationError when the
    PBX cannot be reached; the URL's query may carry a key, so only the host is ever named."""
    action = spec.actions.get(data.action) if spec is not None else None
    if spec is None or action is None:
        return PbxActionResult(
            ok=False, sent=False, message=f"provider {channel.provider} has no {data.action} action"
        )
    context = ChannelContext.from_stored(
        channel.id,
        timezone=channel.timezone,
        country=channel.default_country,
        settings=channel.settings,
    )
    args = _args(data)
    try:
        request = render_action(action, channel=context, provider=spec.id, args=args)
    except ActionError as error:
        if error.spec_bug:
            activity.logger.error("spec %s: action %s: %s", spec.id, action.name, error)
        return PbxActionResult(ok=False, sent=False, message=error.message)
    try:
        request, status, text, headers = _exchange(action, request, transport)
    except httpx.HTTPError as error:
        raise ApplicationError(
            f"the PBX at {request.describe()} could not be reached: {type(error).__name__}",
            type="PbxUnreachable",
        ) from None
    except ActionError as error:  # a redirect pbxhub does not follow
        return PbxActionResult(ok=False, status=error.status, message=error.message)
    try:
        answer = read_answer(
            action,
            status=status,
            text=text,
            channel=context,
            provider=spec.id,
            args=args,
            headers=headers,
            url=request.url,
        )
    except ActionError as error:
        activity.logger.error("spec %s: action %s: %s", spec.id, action.name, error)
        # a 2xx is taken as ok, unless the action exists to bring something back (a link)
        wants_link = any(rule.link is not None for rule in action.answers)
        ok = 200 <= status < 300 and not wants_link
        return PbxActionResult(
            ok=ok,
            status=status,
            message=None if ok else f"the PBX's answer could not be read: {error.message}",
            answer=text,
        )
    outcome = "ok" if answer.ok else "not ready" if answer.retry else "refused"
    activity.logger.info("%s %s → %d (%s)", action.name, request.describe(), status, outcome)
    return PbxActionResult(
        ok=answer.ok,
        status=answer.status,
        message=answer.message,
        answer=answer.text,
        link=answer.link,
        retry=answer.retry,
    )


def _exchange(
    action: ActionSpec, request: OutboundRequest, transport: httpx.BaseTransport | None
) -> tuple[OutboundRequest, int, str, dict[str, str]]:
    """Send the request, then each redirect the action follows (providers.actions decides, and
    checks each address as it checked the first; every hop goes through `_send`): the last
    request, and its answer."""
    status, text, headers = _send(request, transport)
    hops = 0
    while (
        following := follow_redirect(action, request, status=status, headers=headers, hops=hops)
    ) is not None:
        activity.logger.info(
            "%s %s → %d, to %s", action.name, request.describe(), status, following.describe()
        )
        hops += 1
        request = following
        status, text, headers = _send(request, transport)
    return request, status, text, headers


def _send(
    request: OutboundRequest, transport: httpx.BaseTransport | None
) -> tuple[int, str, dict[str, str]]:
    """The status, the answer's text (up to _MAX_ANSWER_BYTES) and its headers (lower-case
    names); httpx follows no redirect itself."""
    with (
        httpx.Client(
            transport=transport, follow_redirects=False, timeout=request.timeout_seconds
        ) as client,
        client.stream(
            request.method, request.url, headers=dict(request.headers), content=request.body
        ) as response,
    ):
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _MAX_ANSWER_BYTES:
                break
        text = b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")
        headers = {key.lower(): value for key, value in response.headers.items()}
        return response.status_code, text[:ANSWER_TEXT_LIMIT], headers


def _args(data: PbxActionInput) -> dict[str, Any]:
    """The action's `args` as its templates read them."""
    args: dict[str, Any] = {"webhook_urls": dict(data.webhook_urls)}
    if data.employee is not None:
        args["employee"] = {
            "id": data.employee.id,
            "name": data.employee.name,
            "extension": data.employee.extension,
        }
    if data.phone is not None:
        args["phone"] = data.phone
    if data.call is not None:
        call = data.call
        args["call"] = {
            "session_id": call.session_id,
            "started_at": call.started_at.isoformat() if call.started_at else None,
            "recording_url": call.recording_url,
            "extra": dict(call.extra),
        }
    if data.lifetime_seconds is not None:
        args["lifetime_seconds"] = data.lifetime_seconds
    return args
