"""The Faust app class the worker runs: stock Faust with two costs of its consumer removed.

- **Fetch wait.** Faust fixes a consumer fetch's longest wait at 1.5 s. Kafka answers a fetch
  as soon as data arrives, so there this only paces idle polling; the embedded Tansu broker
  holds every fetch for the whole wait, which added 0-1.5 s to each topic hop. Capped at
  :data:`FETCH_MAX_WAIT_S`.
- **Four tasks per message.** Faust hands every consumed message to the agents' streams as
  ``wait_first(deliver(message), suspend_flow.wait())``, so a rebalance can interrupt a
  delivery stuck on a full stream buffer. That makes four asyncio tasks per message, ~60 % of
  the CPU of an agent that does nothing. :class:`Consumer` starts the delivery in place
  instead (:func:`start_eagerly`); only a delivery that has to wait (the buffer is full) goes
  on as a task under the same ``wait_first``, so it stays interruptible.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults

#: Longest a consumer fetch waits for data (see the module docstring).
FETCH_MAX_WAIT_S = 0.1


def cap_fetch_wait(consumer: Any) -> Any:
    """Cap an unstarted aiokafka consumer's fetch wait at :data:`FETCH_MAX_WAIT_S`. Faust
    offers no setting for it, so this sets the private attribute aiokafka reads when the
    consumer starts (a test checks it still reaches the fetcher)."""
    consumer._fetch_max_wait_ms = int(FETCH_MAX_WAIT_S * 1000)
    return consumer


class _Continue:
    """Awaitable: the rest of a coroutine that has run up to its first suspension."""

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coro, self.yielded = coro, yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        # What ``yield from`` does: pass each suspension up, each wake-up (or error) down.
        coro, yielded = self.coro, self.yielded
        step: tuple[Callable[[Any], Any], Any]
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - thrown in by the task: pass it down
                step = coro.throw, exc
            else:
                step = coro.send, sent
            try:
                yielded = step[0](step[1])
            except StopIteration as stop:
                return stop.value


async def _rest(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    return await _Continue(coro, yielded)


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run ``coro`` up to its first suspension, in place (no task, no event-loop turn).
    Returns ``(True, result)`` when it finished, else ``(False, awaitable)`` for the rest of
    it, to await or wrap in a task. An exception it raises before suspending propagates."""
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, _rest(coro, yielded)


def _close(*coros: object) -> None:
    for coro in coros:
        if asyncio.iscoroutine(coro):
            coro.close()


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with the fetch wait capped and deliveries started in place."""

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        """``Service.wait_first``, with the first coroutine started in place: when it finishes
        without suspending, the others are not started and no task is made."""
        if not coros or not asyncio.iscoroutine(coros[0]):
            return await super().wait_first(*coros, timeout=timeout)
        try:
            finished, outcome = start_eagerly(coros[0])
        except BaseException:
            _close(*coros[1:])
            raise
        if not finished:
            return await super().wait_first(outcome, *coros[1:], timeout=timeout)
        _close(*coros[1:])
        if self._stopped.is_set() or self._crashed.is_set():
            return WaitResults([], [], True)
        return WaitResults([coros[0]], [outcome], False)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        return cap_fetch_wait(super()._create_worker_consumer(transport))


class _Transport(faust_aiokafka.Transport):
    Consumer = Consumer


class App(faust.App):
    """A Faust app with :class:`Consumer` as its consumer."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
