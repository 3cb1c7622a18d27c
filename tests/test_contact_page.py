"""The contact page a PBX links to: its numbers, fields, responsibles, calls, missed calls
(called back or not), the recordings the viewer may hear, tasks and comments."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from conftest import Site, contact_with_a_recorded_call, employee_who_signs_in, sign_in_over_http

from contracts.messages import CallRecord

PASSWORD = "correct horse battery"


def section(html: str, name: str) -> str:
    found = re.search(rf'<section id="contact-{name}">(.*?)</section>', html, re.S)
    assert found is not None, f"no {name} section"
    return found.group(1)


async def test_the_contact_page_shows_every_section(site: Site) -> None:
    anna = employee_who_signs_in(site, "Anna", PASSWORD)
    made = contact_with_a_recorded_call(site, anna, "+79160000002")
    contact = made.contact
    answered = site.store.get_call(made.call_id)
    assert answered is not None
    missed_at = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    missed, _ = site.store.save_call(
        CallRecord(
            channel_id=answered.channel_id,
            session_id="missed-before",
            provider="uis",
            kind="missed",
            direction="in",
            contact_id=contact.id,
            contact_phone="+79160000002",
            started_at=missed_at,
            ended_at=missed_at + timedelta(seconds=20),
        )
    )
    site.store.create_task(
        title="Send the quote", contact_id=contact.id, assignee_employee_id=anna.id
    )
    async with httpx.AsyncClient(base_url=site.url) as http:
        await sign_in_over_http(http, "anna", PASSWORD)
        page = await http.get(f"/contacts/{contact.id}")
    assert page.status_code == 200
    html = page.text
    assert "+79160000002" in html and "Roga i Kopyta" in html  # numbers and fields
    assert "Anna" in re.search(r'id="contact-responsibles">(.*?)</ol>', html, re.S).group(1)  # type: ignore[union-attr]
    calls = section(html, "calls")
    assert f'id="call-{made.call_id}"' in calls and f'id="call-{missed.id}"' in calls
    assert f'href="/calls?contact_id={contact.id}"' in calls
    missed_calls = section(html, "missed")
    assert f'id="call-{missed.id}"' in missed_calls
    assert f'id="call-{made.call_id}"' not in missed_calls
    # the answered call of 1 December reached the contact after the missed one of 30 November
    assert "called back after 15 h 30 min" in missed_calls
    recordings = section(html, "recordings")
    assert f'src="/recordings/{made.recording_id}"' in recordings
    assert "Send the quote" in section(html, "tasks") and "Anna" in section(html, "tasks")
    assert "Asked for a quote &lt;b&gt;today&lt;/b&gt;" in html  # comments, escaped
