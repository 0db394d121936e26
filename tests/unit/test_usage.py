"""Token accounting: a usage scope sees exactly its own calls, even when other
threads record into the same ledger at the same time."""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

from silico.llm import Usage, UsageLedger, usage_scope


def test_scopes_of_concurrent_units_do_not_mix():
    ledger = UsageLedger()
    start = threading.Barrier(8)
    totals: dict[int, Usage] = {}

    def unit(i: int) -> None:
        with usage_scope() as spent:
            start.wait()  # every unit records while the others do
            # Calls fan out to helper threads in a copy of the unit's context,
            # as the client's _map does.
            with ThreadPoolExecutor(4) as pool:
                futures = [
                    pool.submit(
                        contextvars.copy_context().run,
                        ledger.record,
                        "survey",
                        Usage(calls=1, prompt=i + 1),
                    )
                    for _ in range(5)
                ]
                for f in futures:
                    f.result()
        totals[i] = spent

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(unit, range(8)))
    for i, u in totals.items():
        assert (u.calls, u.prompt) == (5, 5 * (i + 1))
    assert ledger.snapshot()["survey"].calls == 40
    # Outside any scope, recording touches no scope.
    ledger.record("survey", Usage(calls=1))
    assert ledger.snapshot()["survey"].calls == 41
