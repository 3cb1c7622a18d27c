"""Phone masks: chosen by the number's country and type through phonenumbers, overridable per
channel; display only (api.phone_display)."""

from __future__ import annotations

import pytest

from api.phone_display import apply_mask, check_phone_masks, display_phone


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        # Russia: a mobile and a Moscow landline (+7, like Kazakhstan below)
        ("+79161234567", "+7 (916) 123-45-67"),
        ("+74951234567", "+7 (495) 123-45-67"),
        # Ukraine: a Kyivstar mobile, Kyiv (two-digit code), Lviv (three-digit code)
        ("+380671234567", "+380 (67) 123-45-67"),
        ("+380443334455", "+380 (44) 333-44-55"),
        ("+380322123456", "+380 (322) 123-456"),
        # Kazakhstan shares +7 with Russia; phonenumbers tells them apart: a Kcell mobile,
        # Almaty (four-digit code)
        ("+77011234567", "+7 (701) 123-45-67"),
        ("+77272123456", "+7 (7272) 12-34-56"),
        # Uzbekistan: a mobile, Tashkent
        ("+998901234567", "+998 (90) 123-45-67"),
        ("+998712345678", "+998 (71) 234-56-78"),
        # Moldova: a mobile, Chișinău (two-digit code), a district (three-digit code)
        ("+37369123456", "+373 (691) 23-456"),
        ("+37322123456", "+373 (22) 123-456"),
        ("+37323123456", "+373 (231) 23-456"),
    ],
)
def test_the_default_mask_of_each_country_and_type(phone: str, shown: str) -> None:
    assert display_phone(phone) == shown


def test_kazakh_and_russian_mobiles_get_their_own_countrys_mask() -> None:
    kz_only = {"KZ": {"mobile": "+# ### ### ## ##"}}
    assert display_phone("+77011234567", masks=kz_only) == "+7 701 123 45 67"
    assert display_phone("+79161234567", masks=kz_only) == "+7 (916) 123-45-67"


def test_an_extension_the_pbx_sent_follows_after_a_comma() -> None:
    assert display_phone("+74951234567", raw="84951234567,123") == "+7 (495) 123-45-67,123"
    assert display_phone("+74951234567", raw="8 495 123-45-67 доб. 45") == "+7 (495) 123-45-67,45"
    assert display_phone("+380443334455", raw="0443334455 ext. 7", country="UA") == (
        "+380 (44) 333-44-55,7"
    )


def test_a_country_without_default_masks_gets_the_international_format() -> None:
    assert display_phone("+971501234567") == "+971 50 123 4567"
    assert display_phone("+12025550123") == "+1 202-555-0123"


def test_a_channel_mask_overrides_the_default_and_star_covers_every_country() -> None:
    assert display_phone("+79161234567", masks={"RU": {"mobile": "+# ### ### ####"}}) == (
        "+7 916 123 4567"
    )
    # the override is per type: a Russian landline keeps its default
    assert display_phone("+74951234567", masks={"RU": {"mobile": "+# ### ### ####"}}) == (
        "+7 (495) 123-45-67"
    )
    assert display_phone("+971501234567", masks={"*": {"mobile": "+### ## ### ## ##"}}) == (
        "+971 50 123 45 67"
    )


def test_a_mask_with_the_wrong_number_of_digits_is_passed_over() -> None:
    # ten # for an eleven-digit number: the default mask is used instead
    assert display_phone("+79161234567", masks={"RU": {"mobile": "+# (###) ###-##-#"}}) == (
        "+7 (916) 123-45-67"
    )
    assert apply_mask("+# (###) ###-##-##", "7916123456") is None


def test_a_number_without_e164_is_shown_as_the_pbx_sent_it() -> None:
    assert display_phone(None, raw="102") == "102"
    assert display_phone(None, raw="anonymous") == "anonymous"
    assert display_phone(None) is None


def test_a_bad_mask_setting_is_refused_naming_the_entry() -> None:
    check_phone_masks({"RU": {"mobile": "+# (###) ###-##-##"}, "*": {"default": None}})
    with pytest.raises(ValueError, match="XX"):
        check_phone_masks({"XX": {"mobile": "+#"}})
    with pytest.raises(ValueError, match=r"RU\.mobile"):
        check_phone_masks({"RU": {"mobile": "no digits"}})
    with pytest.raises(ValueError, match="object"):
        check_phone_masks(["+#"])
