"""How workflows run a store activity: by its typed method, under the store's timeout and retry.

`store_activity(CallActivities.save_call, record)` is type-checked end to end: the argument
against the method's parameter, the result against its return type (which Temporal decodes to).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")

# The store may be down for a while: keep trying (nothing accepted is lost), but give up at once
# on data the store refuses, which no retry can fix.
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["ValueError", "ConflictError"],
)
STORE_TIMEOUT = timedelta(seconds=30)


async def store_activity(method: Callable[[Any, ArgT], ResultT], arg: ArgT) -> ResultT:
    """Run one of the store's (synchronous) activity methods with the store's timeout and retry."""
    return await workflow.execute_activity_method(
        method, arg, start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY
    )
