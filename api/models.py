"""The REST API's request and response bodies."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any, Generic, TypeVar

import phonenumbers
from pydantic import BaseModel, Field, field_validator

T = TypeVar("T")


class ChannelCreate(BaseModel):
    provider: str = Field(description="A provider id from providers/, e.g. 'uis'")
    name: str = Field(min_length=1, max_length=200)
    default_country: str = Field(
        default="RU", description="ISO 3166 region used to read national phone numbers"
    )
    timezone: str = Field(default="Europe/Moscow", description="IANA zone of the PBX's local times")
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("default_country")
    @classmethod
    def known_country(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown country code {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA time zone {value!r}") from error
        return value


class ChannelOut(BaseModel):
    id: int
    provider: str
    name: str
    secret_key: str
    default_country: str
    timezone: str
    settings: dict[str, Any]
    created_at: datetime
    # What to paste into the PBX: one URL per endpoint of the provider's spec.
    webhook_urls: dict[str, str]


class EmployeeLinkIn(BaseModel):
    channel_id: int
    extension: str | None = Field(default=None, description="The employee's short number")
    pbx_user_id: str | None = Field(default=None, description="The PBX's own id for the employee")


class EmployeeCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    phones: list[str] = Field(default_factory=list, description="The employee's own numbers")
    links: list[EmployeeLinkIn] = Field(default_factory=list)


class EmployeeOut(BaseModel):
    id: int
    name: str
    phones: list[str]
    links: list[EmployeeLinkIn]


class ContactPhoneOut(BaseModel):
    phone: str
    raw: str | None


class ContactOut(BaseModel):
    id: int
    name: str | None
    phones: list[ContactPhoneOut]
    responsible_employee_ids: list[int]
    created_at: datetime


class CallOut(BaseModel):
    id: int
    channel_id: int
    session_id: str
    provider: str
    kind: str
    direction: str | None
    contact_id: int | None
    contact_phone: str | None
    contact_phone_raw: str | None
    virtual_number: str | None
    line_name: str | None
    employee_id: int | None
    employee_extension: str | None
    employee_pbx_id: str | None
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int | None
    talk_seconds: int | None
    total_seconds: int | None
    tags: list[str]
    extra: dict[str, str]
    recording_url: str | None
    recording_duration: int | None
    incomplete: bool
    legs: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
