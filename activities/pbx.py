"""PBX actions: the requests pbxhub sends to a channel's PBX (click-to-call, channel setup, a
recording link), rendered from the provider spec's `actions` and sent over HTTP with a timeout
to the address the channel keeps and nowhere else: an address the guard (recordings.url_guard)
vetted, a public one unless the channel lists its exact host:port; a redirect is followed only
where the action says so, each hop vetted alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.messages import PbxActionInput, PbxActionResult, RecordPbxActionInput
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
from recordings.pbx_hosts import allowed_pbx_hosts
from recordings.url_guard import (
    LinkPolicy,
    LinkRefused,
    LinkUnresolved,
    Resolver,
    VettedLink,
    system_resolver,
    vet_link,
)

# The channel setting a refused channel_setup (or other recorded action) is kept in, for admins.
LAST_ERROR_SETTING = "last_error"
# A PBX's answer is read up to this size: the rest is never needed.
_MAX_ANSWER_BYTES = 64 * 1024
# How much of a PBX's answer goes to the log (and nowhere else).
_LOGGED_ANSWER_CHARS = 300


class PbxActivities:
    """Activities that talk to PBXs, bound to the store (the channel) and the provider specs.

    `transport` and `resolve` are for tests that hand in their own (production uses httpx's
    default and the system's resolver).
    """

    def __init__(
        self,
        store: Store,
        specs: Mapping[str, ProviderSpec],
        *,
        transport: httpx.BaseTransport | None = None,
        resolve: Resolver = system_resolver,
    ) -> None:
        self._store = store
        self._specs = specs
        self._transport = transport
        self._resolve = resolve

    @activity.defn
    def send_pbx_action(self, data: PbxActionInput) -> PbxActionResult:
        """Send the action once and read the PBX's answer. A PBX that cannot be reached raises
        (the workflow's retry policy decides); a PBX that answers, whatever it says, does not."""
        channel = self._store.get_channel(data.channel_id)
        if channel is None:
            return PbxActionResult(ok=False, sent=False, message=f"no channel {data.channel_id}")
        return send_action(
            channel,
            self._specs.get(channel.provider),
            data,
            transport=self._transport,
            resolve=self._resolve,
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
                "at": data.at.isoformat(),
            }
        self._store.update_channel(data.channel_id, settings_patch={LAST_ERROR_SETTING: error})


def send_action(
    channel: Channel,
    spec: ProviderSpec | None,
    data: PbxActionInput,
    *,
    transport: httpx.BaseTransport | None = None,
    resolve: Resolver = system_resolver,
) -> PbxActionResult:
    """Render the channel's action, vet its address, send it once and read the answer (ok, a
    link, not ready yet, or what the person should fix). Raises a `PbxUnreachable`
    ApplicationError when the PBX cannot be reached; the URL's query may carry a key, so only
    the host is ever named. The PBX's answer itself goes to the log only (cut short): `answer`
    is pbxhub's short account of it."""
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
        request, status, text, headers = _exchange(action, request, channel, resolve, transport)
    except LinkRefused as refused:
        activity.logger.warning("%s %s not sent: %s", action.name, request.describe(), refused)
        return PbxActionResult(
            ok=False, sent=False, message=f"the PBX's address is refused: {refused.reason}"
        )
    except LinkUnresolved as error:
        raise ApplicationError(str(error), type="PbxUnreachable") from None
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
        _log_answer(action.name, request, status, "ok" if ok else "unread", text, channel)
        return PbxActionResult(
            ok=ok,
            status=status,
            message=None if ok else f"the PBX's answer could not be read: {error.message}",
            answer=short_answer(status, ok=ok),
        )
    outcome = "ok" if answer.ok else "not ready" if answer.retry else "refused"
    _log_answer(action.name, request, status, outcome, text, channel)
    if answer.message:
        activity.logger.info("%s: %s", action.name, _redacted(answer.message, channel))
    return PbxActionResult(
        ok=answer.ok,
        status=answer.status,
        message=answer.message,
        answer=short_answer(status, ok=answer.ok, retry=answer.retry),
        link=answer.link,
        retry=answer.retry,
    )


def _exchange(
    action: ActionSpec,
    request: OutboundRequest,
    channel: Channel,
    resolve: Resolver,
    transport: httpx.BaseTransport | None,
) -> tuple[OutboundRequest, int, str, dict[str, str]]:
    """Send the request, then each redirect the action follows (providers.actions decides which;
    every hop's address is vetted as the first one was, and sent through `_send`): the last
    request, and its answer."""
    status, text, headers = _send(
        request, vet_pbx_address(request.url, channel, resolve), transport
    )
    hops = 0
    while (
        following := follow_redirect(action, request, status=status, headers=headers, hops=hops)
    ) is not None:
        activity.logger.info(
            "%s %s → %d, to %s", action.name, request.describe(), status, following.describe()
        )
        hops += 1
        request = following
        target = vet_pbx_address(request.url, channel, resolve)
        status, text, headers = _send(request, target, transport)
    return request, status, text, headers


def vet_pbx_address(url: str, channel: Channel, resolve: Resolver = system_resolver) -> VettedLink:
    """The PBX's address (any host the admin set), pinned to a public address, or to any
    address when the channel lists its exact host:port; raises LinkRefused or LinkUnresolved.
    Every request to a PBX, and every redirect one is sent on, goes through it."""
    policy = LinkPolicy(any_host=True, private_hosts=allowed_pbx_hosts(channel.settings))
    return vet_link(url, policy, resolve)


def short_answer(status: int, *, ok: bool, retry: bool = False) -> str:
    """What the PBX's answer came to, in pbxhub's words only: what people are shown of it."""
    if ok:
        return f"the PBX accepted: HTTP {status}"
    if retry:
        return f"the PBX has nothing yet: HTTP {status}"
    return f"the PBX refused: HTTP {status}"


def _log_answer(
    action: str, request: OutboundRequest, status: int, outcome: str, text: str, channel: Channel
) -> None:
    """The PBX's own answer, for whoever reads the log: cut short, the channel's keys hidden."""
    shown = _redacted(text[:_LOGGED_ANSWER_CHARS], channel)
    cut = "…" if len(text) > _LOGGED_ANSWER_CHARS else ""
    activity.logger.info(
        "%s %s → %d (%s): %r%s", action, request.describe(), status, outcome, shown, cut
    )


def _redacted(text: str, channel: Channel) -> str:
    secrets = channel.settings.get("secrets")
    for value in secrets.values() if isinstance(secrets, Mapping) else ():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _send(
    request: OutboundRequest, target: VettedLink, transport: httpx.BaseTransport | None
) -> tuple[int, str, dict[str, str]]:
    """The status, the answer's text (up to _MAX_ANSWER_BYTES) and its headers (lower-case
    names); httpx follows no redirect itself. The connection goes to the vetted address (the
    name in Host and TLS SNI), no proxy between."""
    with httpx.Client(
        transport=transport,
        follow_redirects=False,
        timeout=request.timeout_seconds,
        trust_env=False,
    ) as client:
        sent = client.build_request(
            request.method,
            target.dial_url,
            headers={**request.headers, "Host": target.host_header},
            content=request.body,
            extensions={"sni_hostname": target.host},
        )
        response = client.send(sent, stream=True)
        try:
            return _read(response)
        finally:
            response.close()


def _read(response: httpx.Response) -> tuple[int, str, dict[str, str]]:
    """The status, the answer's first bytes as text, and its headers."""
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
            "pbx_user_id": data.employee.pbx_user_id,
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
