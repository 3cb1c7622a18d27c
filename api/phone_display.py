"""Phone numbers as people read them: a mask of `#` digits chosen by the number's country and
type (mobile, fixed) through `phonenumbers`, overridable per channel. Display only: the store
keeps E.164 and the raw value, and nothing matches or dials on what this module writes.

A mask writes the number's E.164 digits into its `#` in order (`+# (###) ###-##-##` →
`+7 (916) 123-45-67`) and is used only when it has exactly as many `#` as the number has digits.
Masks are looked up for the number's own country, type and length of its national destination
code (`fixed/4` before `fixed`), then `default`; a channel's `phone_masks` setting
(`{"RU": {"mobile": "..."}, "*": {"default": "..."}}`, `*` for every country) goes first. With
no mask that fits, the number is written in phonenumbers' INTERNATIONAL format. An extension the
PBX sent with the number (`,123`, `доб. 123`, `ext. 123`) follows after a comma.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

import phonenumbers
from phonenumbers import PhoneNumberType

from contracts.phones import read_extension

# Per country: type → mask; `type/N` is for a national destination code of N digits.
DEFAULT_MASKS: Final[Mapping[str, Mapping[str, str]]] = {
    # +7 916 123-45-67, +7 495 123-45-67: phonenumbers gives every Russian code three digits
    "RU": {"mobile": "+# (###) ###-##-##", "fixed": "+# (###) ###-##-##"},
    # +380 67 123 4567; Kyiv 44 (two digits), Lviv 322 (three), smaller towns four
    "UA": {
        "mobile": "+### (##) ###-##-##",
        "fixed": "+### (##) ###-##-##",
        "fixed/3": "+### (###) ###-###",
        "fixed/4": "+### (####) ##-###",
    },
    # +7 701 123 4567; Almaty 7272 (four digits), Astana 7172, and some of three or five
    "KZ": {
        "mobile": "+# (###) ###-##-##",
        "fixed": "+# (####) ##-##-##",
        "fixed/3": "+# (###) ###-##-##",
        "fixed/5": "+# (#####) #-##-##",
    },
    # +998 90 123 45 67; Tashkent 71
    "UZ": {"mobile": "+### (##) ###-##-##", "fixed": "+### (##) ###-##-##"},
    # +373 691 23 456; Chișinău 22 (two digits), the districts three
    "MD": {
        "mobile": "+### (###) ##-###",
        "fixed": "+### (##) ###-###",
        "fixed/3": "+### (###) ##-###",
    },
}

ANY_COUNTRY: Final = "*"
MASK_SETTING: Final = "phone_masks"

_TYPES: Final[Mapping[int, tuple[str, ...]]] = {
    PhoneNumberType.MOBILE: ("mobile",),
    PhoneNumberType.FIXED_LINE: ("fixed",),
    # phonenumbers cannot tell them apart in some plans (US, ...): either mask will do
    PhoneNumberType.FIXED_LINE_OR_MOBILE: ("fixed", "mobile"),
    PhoneNumberType.TOLL_FREE: ("toll_free",),
    PhoneNumberType.VOIP: ("voip",),
}


def apply_mask(mask: str, digits: str) -> str | None:
    """`digits` written into the `#` of `mask`; None unless they are exactly as many."""
    if mask.count("#") != len(digits):
        return None
    filled = iter(digits)
    return "".join(next(filled) if char == "#" else char for char in mask)


def display_phone(
    phone: str | None,
    *,
    raw: str | None = None,
    country: str = "RU",
    masks: Mapping[str, Any] | None = None,
) -> str | None:
    """How to show a number: `phone` in E.164 through its mask, with the extension `raw`
    carries; the raw value as it is when there is no E.164 (an extension, a hidden number).

    `country` reads a national raw value; `masks` is a channel's `phone_masks` setting.
    """
    if not phone:
        return raw or None
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return raw or phone
    digits = phone.lstrip("+")
    shown = next(
        (
            filled
            for mask in _candidate_masks(number, masks)
            if (filled := apply_mask(mask, digits)) is not None
        ),
        None,
    ) or phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    extension = read_extension(raw, country)
    return f"{shown},{extension}" if extension else shown


def _candidate_masks(
    number: phonenumbers.PhoneNumber, overrides: Mapping[str, Any] | None
) -> Iterator[str]:
    region = phonenumbers.region_code_for_number(number) or ""
    types = _TYPES.get(phonenumbers.number_type(number), ("other",))
    code_length = phonenumbers.length_of_national_destination_code(number)
    keys = [f"{kind}/{code_length}" for kind in types] + list(types) + ["default"]
    tables: list[Mapping[str, Any]] = []
    for table in (overrides or {}).get(region), (overrides or {}).get(ANY_COUNTRY):
        if isinstance(table, Mapping):
            tables.append(table)
    tables.append(DEFAULT_MASKS.get(region, {}))
    for key in keys:
        for table in tables:
            mask = table.get(key)
            if isinstance(mask, str):
                yield mask


def check_phone_masks(value: Any) -> None:
    """Raise ValueError naming the bad entry of a `phone_masks` setting. A country's table or a
    mask may be null, as in a settings patch (it removes the key)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{MASK_SETTING} must be an object of countries, not {value!r}")
    for region, table in value.items():
        if region != ANY_COUNTRY and region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{MASK_SETTING}: {region!r} is not a country code (or '*')")
        if table is None:
            continue
        if not isinstance(table, Mapping):
            raise ValueError(f"{MASK_SETTING}.{region} must be an object of masks by phone type")
        for kind, mask in table.items():
            if mask is not None and (not isinstance(mask, str) or "#" not in mask):
                raise ValueError(
                    f"{MASK_SETTING}.{region}.{kind}: a mask is a string of '#' digits, "
                    f"not {mask!r}"
                )
