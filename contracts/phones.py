"""The one reader of phone numbers: a number as a PBX or a person writes it, read by a country's
dialling rules into E.164, the only form pbxhub stores, matches and dials.

Every entry point reads numbers here (the specs' `e164` filter, the generic telephony API, the
REST `phone` filters, the call rules' lines, click-to-call), so the same digits are the same
number wherever they come in; the store only takes numbers already read (`require_e164`), so
that one number can never become two contacts. Pure (phonenumbers and the standard library
only): the providers use it without the store, and `crm` uses it without anything above it.
What it decides, case by case, is in docs/phone-numbers.md and tests/test_phone_numbers.py.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, ValidationResult

__all__ = ["MAX_PHONE_TEXT", "is_e164", "read_extension", "read_phone", "require_e164"]

# The longest text read as a number: 15 digits, separators and an extension ("доб. 12345") fit
# well within it; anything longer is not a phone number, and is refused before any parsing.
MAX_PHONE_TEXT: Final = 64
# ITU-T E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
# The ITU-recommended international prefix, which PBXs send even in countries that dial another
# one (Russia and Kazakhstan dial 810): no national number anywhere starts with it.
_ITU_PREFIX: Final = re.compile(r"[\s(]*0[\s().-]*0(?=[\s().-]*[1-9])")
# Fewer digits than this are not read as an international number written without its "+": they
# are extensions or short service numbers ("101", "112", "0322").
_MIN_INTERNATIONAL_DIGITS: Final = 8
# A SIP address as Asterisk-style PBXs send a caller (`<sip:79161234567@192.0.2.1:5060>`): its
# user part is the number, or an extension.
_SIP_USER: Final = re.compile(r"<?sips?:(?P<user>[^@;>]+)@[^>]*>?", re.IGNORECASE)
# phonenumbers' region code for country codes of no country (+800 freephone, +882 networks)
_NON_GEOGRAPHIC: Final = "001"


def is_e164(phone: str) -> bool:
    """Whether `phone` is written in E.164, e.g. `+74951234567`."""
    return _E164.fullmatch(phone) is not None


def require_e164(phone: str) -> str:
    """Return `phone` unchanged if it is E.164, else raise ValueError naming it."""
    if not is_e164(phone):
        raise ValueError(f"phone {phone!r} is not in E.164 form (like +74951234567)")
    return phone


def read_phone(raw: str | None, country: str | None) -> str | None:
    """`raw` in E.164 ("8 (916) 123-45-67" → "+79161234567"), read with `country`'s dialling
    rules (ISO 3166 code; None: only a number written internationally is read); None when it is
    no phone number: an extension, a hidden or placeholder number, letters, too short or long.

    An extension after the number ("доб. 12", ",12", "#12") is not part of the E.164 number; of
    a SIP address ("sip:79161234567@pbx") the user part is read. Keep `raw` beside the result: a
    number that cannot be read is still evidence.
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text or len(text) > MAX_PHONE_TEXT:
        return None
    sip = _SIP_USER.fullmatch(text)
    if sip:
        text = sip["user"]
    region = country.strip().upper() if country else None
    return _read(text, region if region in phonenumbers.SUPPORTED_REGIONS else None)


def read_extension(raw: str | None, country: str) -> str | None:
    """The extension `raw` writes after its number ("+7 495 123-45-67 доб. 12" → "12"), read
    with `country`'s dialling rules; None when it writes none or is no number."""
    if not raw or len(raw) > MAX_PHONE_TEXT:
        return None
    try:
        return phonenumbers.parse(raw, country.upper()).extension or None
    except NumberParseException:
        return None


@lru_cache(maxsize=8192)
def _read(text: str, region: str | None) -> str | None:
    # A vanity number ("8-800-FLOWERS") is something a person reads, never what a PBX sends.
    if phonenumbers.is_alpha_number(text):
        return None
    readings = _readings(text, region)
    for number, _guessed in readings:
        if phonenumbers.is_valid_number(number):
            return _formatted(number)
    # Read by the country's own rules, a merely possible number is kept (phonenumbers' plan may
    # lag the regulator's); a guessed prefix must give a valid one, or it is a wrong guess.
    for number, guessed in readings:
        possible = phonenumbers.is_possible_number_with_reason(number)
        if (
            not guessed
            and possible == ValidationResult.IS_POSSIBLE
            and _in_plan(number)
            and not _placeholder(number)
        ):
            return _formatted(number)
    return None


def _readings(text: str, region: str | None) -> list[tuple[PhoneNumber, bool]]:
    """The ways `text` may be meant, the likelier first, each with whether its prefix is a
    guess rather than the country's dialling rules."""
    candidates: list[tuple[str, str | None, bool]] = []
    international = text.startswith("+")
    digits = re.sub(r"\D", "", text)
    itu_prefix = _ITU_PREFIX.match(text)
    if not international and itu_prefix:
        candidates.append(("+" + text[itu_prefix.end() :], None, True))
    # by the country's own rules: "+", its international prefix (810 in RU, 00 in UA), its trunk
    # prefix (8 in RU, 0 in UA), its own country code without "+", a national number
    if region is not None or international:
        candidates.append((text, region, False))
    # an international number sent without its "+" ("380441234567" on a Russian line)
    if not international and len(digits) >= _MIN_INTERNATIONAL_DIGITS and digits[0] != "0":
        candidates.append(("+" + text, None, True))
    readings = []
    for candidate, candidate_region, guessed in candidates:
        try:
            readings.append((phonenumbers.parse(candidate, candidate_region), guessed))
        except NumberParseException:
            continue
    return readings


def _in_plan(number: PhoneNumber) -> bool:
    """The national number has a shape its country's plan allows (leading digits and length),
    though no listed range holds it: "+7 0…" is none, Russian or Kazakh."""
    code, national = number.country_code, phonenumbers.national_significant_number(number)
    if code is None:
        return False
    for region in phonenumbers.region_codes_for_country_code(code):
        metadata = (
            PhoneMetadata.metadata_for_nongeo_region(code)
            if region == _NON_GEOGRAPHIC
            else PhoneMetadata.metadata_for_region(region)
        )
        general = metadata.general_desc if metadata is not None else None
        pattern = general.national_number_pattern if general is not None else None
        if pattern and re.fullmatch(pattern, national):
            return True
    return False


def _placeholder(number: PhoneNumber) -> bool:
    # "0000000000", "+7 111 111-11-11": what a PBX writes for a hidden number; a real number
    # like that is valid in its plan and never gets here
    return len(set(str(number.national_number))) == 1


def _formatted(number: PhoneNumber) -> str | None:
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted if is_e164(formatted) else None
