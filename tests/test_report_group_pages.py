"""The weekly calls report reads its page of groups, their counts and the whole report's totals
in one statement by employee and apart by contact (crm.report_groups): paged one group at a
time, on both backends, either way, the pages add up to the whole list in order, each page
carries exactly its groups' counts, and every page, one past the end included, tells the same
number of groups and the same totals."""

from __future__ import annotations

from typing import Literal

import pytest
from report_week import WEEK, seed

from api.deps import ADMIN
from api.report_scope import PeriodQuery, report_request
from crm import Store
from crm.reports import CallsReport


def counted(report: CallsReport, *, totals: bool = False) -> list[tuple[object, ...]]:
    """The report's counts (or totals) as sortable rows, whatever order the database gave."""
    items = report.totals if totals else report.counts
    return sorted(
        (
            (
                -1 if item.key is None else item.key,
                item.day,
                item.call_type,
                item.calls,
                item.talk_seconds,
                item.waited_calls,
                item.wait_seconds,
                item.quick_answers,
            )
            for item in items
        ),
        key=repr,
    )


@pytest.mark.parametrize(
    ("by", "names"),
    [
        ("employee", ["Anna", "Boris", "Carl", None]),
        ("contact", [None, "Clara", "Dmitri", "Eve"]),  # the nameless one named by its number
    ],
)
def test_the_weekly_reports_group_pages_add_up_to_the_whole_report(
    store: Store, by: Literal["employee", "contact"], names: list[str | None]
) -> None:
    seed(store)
    scope = report_request(ADMIN, store, PeriodQuery(WEEK, None, None, None)).scope

    whole = store.calls_report(scope, by=by, limit=20, offset=0, max_calls=100)
    pages = [
        store.calls_report(scope, by=by, limit=1, offset=offset, max_calls=100)
        for offset in range(5)
    ]

    assert [group.name for group in whole.groups] == names
    assert [group for page in pages for group in page.groups] == whole.groups
    assert [page.total_groups for page in pages] == [4] * 5
    assert pages[4].groups == [] and pages[4].counts == [] and pages[4].calls == []
    assert sorted((row for page in pages for row in counted(page)), key=repr) == counted(whole)
    for page in pages[:4]:
        (group,) = page.groups
        assert {item.key for item in page.counts} == {group.key}
    assert all(counted(page, totals=True) == counted(whole, totals=True) for page in pages)
    assert sum(item.calls for item in whole.totals) == sum(item.calls for item in whole.counts)
