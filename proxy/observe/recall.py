"""What a call's memory lookup leaves behind: counted in the metrics, and, for a call with a
user, an entry in the injection log. Called once per lookup from `proxy.http.turn.recall`, so
every route that recalls through it is logged the same way. Cheap on purpose: a few counter
increments and a list append; the log is stored later, off the request path."""

from __future__ import annotations

import time

from proxy.core.scope import Scope
from proxy.memory.storage.injections import Injection
from proxy.observe.context import current, new_request_id
from proxy.observe.injections import InjectionLog
from proxy.observe.metrics import Metrics, RecallLike

__all__ = ["CARRIED", "observe_recall"]

# The log's name for memories a conversation's earlier request injected and this one resends.
CARRIED = "carried"


def observe_recall(
    metrics: Metrics | None,
    injections: InjectionLog | None,
    scope: Scope | None,
    result: RecallLike,
) -> None:
    context = current()
    if context is not None:
        context.memory_status = result.status
    if metrics is not None:
        metrics.recalled(result)
    if injections is None or scope is None:
        return
    injected = result.injected
    if result.carried:  # what earlier requests of the conversation injected is seen again
        injected = {**injected, CARRIED: sorted(result.carried)}
    injections.record(
        Injection(
            request_id=context.request_id if context is not None else new_request_id(),
            at=time.time(),
            route=context.route if context is not None else "",
            model=context.model if context is not None else None,
            user_id=scope.user_id,
            session_id=scope.session_id,
            agent_id=scope.agent_id,
            status=result.status,
            injected=injected,
            tokens=result.tokens,
            retrieval_ms=result.elapsed_ms,
        )
    )
