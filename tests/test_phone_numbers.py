"""Phone numbers have one reader (contracts.phones.read_phone): a table of what it makes of the
numbers PBXs and people send, with why; the numbers of the masks' countries read and shown; and
every entry point giving the same E.164 for the same raw number (the specs' `e164` filter, the
REST `phone` filter, the call rules' lines, and over HTTP the webhooks, the generic telephony API
and the calls and contacts found by the number as the PBX sent it)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from conftest import Pbxhub, scenario
from fastapi import HTTPException

from api.call_filters import normalize_phone_filter
from api.phone_display import display_phone
from contracts import phones
from contracts.phones import MAX_PHONE_TEXT, read_phone
from policies.call_rules import CallFacts, TaskRule
from providers.engine import ChannelContext
from providers.templating import MAP_NAMES, compile_expression

# (raw, channel country, E.164 or None, why a real telephony integration reads it so)
NUMBERS: list[tuple[str, str | None, str | None, str]] = [
    # -- Russia: international prefix 810, trunk prefix 8, country code 7 --
    ("+7 916 123-45-67", "RU", "+79161234567", "written internationally: the country is ignored"),
    ("89161234567", "RU", "+79161234567", "trunk prefix 8 before a mobile"),
    ("8 (495) 123-45-67", "RU", "+74951234567", "trunk prefix 8 before a Moscow landline"),
    ("9161234567", "RU", "+79161234567", "a national number without the trunk prefix"),
    ("79161234567", "RU", "+79161234567", "the country's own code without + (most RU PBXs)"),
    ("4951234567", "RU", "+74951234567", "ten digits are a Moscow number here, not +49 (DE)"),
    ("81048221234567", "RU", "+48221234567", "810 is Russia's international prefix"),
    ("8 10 48 22 123 45 67", "RU", "+48221234567", "810 as a person writes it"),
    ("0048221234567", "RU", "+48221234567", "00, the ITU prefix RU PBXs send too; no RU number"),
    ("00 380 44 123 45 67", "RU", "+380441234567", "00 with spaces"),
    ("380441234567", "RU", "+380441234567", "a UA number without +: +7 380… is too long"),
    ("+7 8 916 123 45 67", "RU", "+79161234567", "a trunk prefix kept after +7 is dropped"),
    ("+7 (916) 123-45-67 доб. 123", "RU", "+79161234567", "the extension is not in E.164"),
    ("74951234567,123", "RU", "+74951234567", "an extension after a comma"),
    ("8 800 555-35-35", "RU", "+78005553535", "a toll-free number"),
    ("+79999999999", "RU", "+79999999999", "repeated digits, yet a valid mobile"),
    ("+73331234567", "RU", "+73331234567", "in the plan's shape, no listed range: kept"),
    ("+71234567890", "RU", None, "no Russian or Kazakh number starts with 1"),
    ("0671234567", "RU", None, "a UA trunk prefix: no Russian number starts with 0"),
    ("1234567", "RU", None, "a local number without its area code: which city?"),
    ("101", "RU", None, "an extension"),
    ("1001", "RU", None, "an extension"),
    ("12345", "RU", None, "an extension"),
    ("112", "RU", None, "a short service number"),
    ("0000000000", "RU", None, "a placeholder for a hidden number"),
    ("+70000000000", "RU", None, "a placeholder for a hidden number"),
    ("anonymous", "RU", None, "a hidden number"),
    ("Unknown", "RU", None, "a hidden number"),
    ("sip:101@pbx.local", "RU", None, "a SIP address of an extension"),
    ("sip:79161234567@pbx.example.com", "RU", "+79161234567", "a SIP address's user part"),
    ("<sip:+79161234567@192.0.2.1:5060>", "RU", "+79161234567", "as Asterisk writes it"),
    ("pbx.example.com", "RU", None, "a host, no number"),
    ("8-800-FLOWERS", "RU", None, "letters: no PBX sends a vanity number"),
    ("", "RU", None, "nothing"),
    ("+", "RU", None, "nothing"),
    ("00", "RU", None, "only a prefix"),
    ("+0048221234567", "RU", None, "no country code starts with 0"),
    ("+7 916 123 45 678", "RU", None, "too long for Russia"),
    ("7916123456789012345", "RU", None, "more than E.164's 15 digits"),
    ("7" * (MAX_PHONE_TEXT + 1), "RU", None, "longer than any number: not parsed at all"),
    # -- Ukraine: international prefix 00, trunk prefix 0, country code 380 --
    ("0441234567", "UA", "+380441234567", "trunk prefix 0 before Kyiv"),
    ("067 123 45 67", "UA", "+380671234567", "trunk prefix 0 before a mobile"),
    ("380441234567", "UA", "+380441234567", "the country's own code without +"),
    ("00380441234567", "UA", "+380441234567", "00 is Ukraine's international prefix"),
    ("0048221234567", "UA", "+48221234567", "00 before a Polish number"),
    ("79161234567", "UA", "+79161234567", "a RU mobile without +: UA has no such number"),
    ("81048221234567", "UA", None, "810 is no prefix here; +81 048… (JP) is only possible"),
    ("89161234567", "UA", None, "Russia's trunk prefix 8 means nothing here"),
    # -- Kazakhstan: shares +7 with Russia; international prefix 810 (and 00), trunk prefix 8 --
    ("87011234567", "KZ", "+77011234567", "trunk prefix 8 before a mobile"),
    ("8 7272 12-34-56", "KZ", "+77272123456", "trunk prefix 8 before Almaty"),
    ("81048221234567", "KZ", "+48221234567", "810 is Kazakhstan's international prefix"),
    ("0048221234567", "KZ", "+48221234567", "00, the ITU prefix"),
    ("79161234567", "KZ", "+79161234567", "+7 is shared: a RU mobile stays Russian"),
    # -- Uzbekistan: international prefix 00, no trunk prefix --
    ("90 123 45 67", "UZ", "+998901234567", "a national mobile number"),
    ("998901234567", "UZ", "+998901234567", "the country's own code without +"),
    ("00998901234567", "UZ", "+998901234567", "00 is Uzbekistan's international prefix"),
    # -- Moldova: international prefix 00, trunk prefix 0 --
    ("069123456", "MD", "+37369123456", "trunk prefix 0 before a mobile"),
    ("022 123 456", "MD", "+37322123456", "trunk prefix 0 before Chișinău"),
    ("0037369123456", "MD", "+37369123456", "00 is Moldova's international prefix"),
    ("37369123456", "MD", "+37369123456", "the country's own code without +"),
    # -- a channel without a known country: only numbers written internationally --
    ("79161234567", None, "+79161234567", "international without +"),
    ("0048221234567", None, "+48221234567", "00, the ITU prefix"),
    ("89161234567", None, None, "a national number of no known country"),
    ("89161234567", "XX", None, "an unknown country code is no country"),
    (" +7 916 123 45 67 ", "ru", "+79161234567", "spaces around, a country in lower case"),
]


@pytest.mark.parametrize(
    ("raw", "country", "expected", "why"),
    NUMBERS,
    ids=[f"{country}:{raw[:20]}" for raw, country, _, _ in NUMBERS],
)
def test_what_the_reader_makes_of_a_number(
    raw: str, country: str | None, expected: str | None, why: str
) -> None:
    assert read_phone(raw, country) == expected, why


@pytest.mark.parametrize(
    ("raw", "country", "shown"),
    [
        ("8 916 123-45-67", "RU", "+7 (916) 123-45-67"),
        ("84951234567", "RU", "+7 (495) 123-45-67"),
        ("067 123 45 67", "UA", "+380 (67) 123-45-67"),
        ("0443334455", "UA", "+380 (44) 333-44-55"),
        ("0322123456", "UA", "+380 (322) 123-456"),
        ("87011234567", "KZ", "+7 (701) 123-45-67"),
        ("8 7272 12-34-56", "KZ", "+7 (7272) 12-34-56"),
        ("90 123 45 67", "UZ", "+998 (90) 123-45-67"),
        ("71 234 56 78", "UZ", "+998 (71) 234-56-78"),
        ("069123456", "MD", "+373 (691) 23-456"),
        ("022123456", "MD", "+373 (22) 123-456"),
        ("023123456", "MD", "+373 (231) 23-456"),
    ],
)
def test_each_mask_countrys_numbers_are_read_and_shown_through_its_mask(
    raw: str, country: str, shown: str
) -> None:
    phone = read_phone(raw, country)
    assert phone is not None
    assert display_phone(phone, raw=raw, country=country) == shown


def test_reading_is_bounded_text_longer_than_a_phone_is_refused_before_it_is_parsed() -> None:
    # what keeps a hostile number cheap is the length bound, not a stopwatch (speed: bench/)
    phones._read.cache_clear()
    parsed = phones._read.cache_info  # every text that reaches the parser passes its cache
    before = parsed().misses
    assert read_phone("8 916 000-00-01", "RU") == "+79160000001"
    assert parsed().misses == before + 1
    for hostile in ("+" + "1" * 10_000, "(" * 10_000, "8" * (MAX_PHONE_TEXT + 1)):
        assert read_phone(hostile, "RU") is None
    assert parsed().misses == before + 1


# -- every entry point reads the same --------------------------------------------------------

# The numbers (channel country RU), each as the PBX sent it, and the one E.164 it is.
AS_SENT = [
    ("0048221234567", "+48221234567"),
    ("380441234567", "+380441234567"),
    ("81048221234567", "+48221234567"),
    ("8 (916) 123-45-67", "+79161234567"),
]


def mapped_by_a_spec(raw: str) -> Any:
    expression = compile_expression("body.phone | e164", "test", MAP_NAMES)
    channel = ChannelContext(channel_id=1, country="RU")
    return expression.evaluate({"body": {"phone": raw}, "channel": channel, "query": {}})


def matched_by_a_rule_line(raw: str, line: str) -> bool:
    rule = TaskRule(name="the line", title="t", lines=(raw,))
    facts = CallFacts(
        kind="call",
        direction="in",
        line_name=None,
        virtual_number=line,
        employee_id=None,
        new_contact=False,
        country="RU",
    )
    return rule.matches(facts)


@pytest.mark.parametrize(("raw", "e164"), AS_SENT)
def test_the_spec_filter_the_rest_filter_and_the_rules_read_a_number_alike(
    raw: str, e164: str
) -> None:
    assert mapped_by_a_spec(raw) == e164
    assert normalize_phone_filter(raw, "RU") == e164
    assert matched_by_a_rule_line(raw, e164)
    assert not matched_by_a_rule_line(raw, "+74950000001")


@pytest.mark.parametrize("raw", ["101", "anonymous", "0000000000"])
def test_the_rest_filter_names_a_number_it_cannot_read(raw: str) -> None:
    with pytest.raises(HTTPException) as error:
        normalize_phone_filter(raw, "RU")
    assert error.value.status_code == 422
    assert str(error.value.detail).startswith("phone: ")
    with pytest.raises(HTTPException) as unknown:
        normalize_phone_filter("89161234567", "Narnia")
    assert str(unknown.value.detail).startswith("country: ")


async def eventually(check: Any, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := await check()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return value


@pytest.mark.parametrize(("raw", "e164"), AS_SENT)
async def test_a_number_from_a_webhook_and_from_the_api_is_one_contact_found_as_sent(
    pbxhub: Pbxhub, raw: str, e164: str
) -> None:
    token = "303cb962ac59075b964b07152d234b70"  # the planfix_api fixtures' key
    webhooks, _ = await pbxhub.create_line(
        "planfix_api",
        {"Anna": {"extension": "101"}},
        settings={"secrets": {"planfix_token": token}},
    )
    api = await pbxhub.create_channel("telephony_api")
    as_form = raw.replace("+", "%2B").replace(" ", "+")
    call = [
        (name, body.replace(b"phone=79161234567", f"phone={as_form}".encode()))
        for name, body in scenario("planfix_api", "inbound_not_recorded")
    ]

    await pbxhub.deliver(webhooks, call, endpoint="api", reply="")
    created = await pbxhub.http.post(
        f"/api/v2/telephony/calls/{api['secret_key']}",
        json={"action": "create_call", "direction": "incoming", "phone": raw},
    )
    assert created.status_code == 200, created.text
    await pbxhub.http.post(
        f"/api/v2/telephony/calls/{api['secret_key']}",
        json={
            "action": "update_call",
            "call_id": created.json()["data"]["call_id"],
            "call_status": "missed",
        },
    )

    async def both() -> tuple[list[Any], list[Any]] | None:
        calls, missed = await pbxhub.calls_and_missed()
        return (calls, missed) if calls and missed else None

    calls_and_missed = await eventually(both)
    assert calls_and_missed is not None, "the webhook's call and the API's missed call"
    [from_webhook], [from_api] = calls_and_missed
    assert (from_webhook["contact_phone"], from_webhook["contact_phone_raw"]) == (e164, raw)
    assert (from_api["contact_phone"], from_api["contact_phone_raw"]) == (e164, raw)
    # one contact, found like the calls by the number as the PBX sent it
    [contact] = await pbxhub.get("/api/v1/contacts", phone=raw)
    assert from_webhook["contact_id"] == from_api["contact_id"] == contact["id"]
    found = await pbxhub.get("/api/v1/calls", phone=raw)
    assert [item["id"] for item in found["items"]] == [from_webhook["id"]]
    found_missed = await pbxhub.get("/api/v1/missed-calls", phone=raw)
    assert [item["id"] for item in found_missed["items"]] == [from_api["id"]]
