"""The worker's Faust consumer: deliveries started in place, still interruptible when they wait."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from processors.faust_app import App, Consumer, start_eagerly


def test_a_coroutine_that_never_waits_finishes_in_place() -> None:
    async def add(a: int, b: int) -> int:
        return a + b

    assert start_eagerly(add(2, 3)) == (True, 5)  # no event loop needed: nothing was scheduled


def test_a_coroutine_that_waits_goes_on_where_it_stopped() -> None:
    steps: list[str] = []

    async def two_steps(fut: asyncio.Future[int]) -> int:
        steps.append("before")
        got = await fut
        steps.append("after")
        await asyncio.sleep(0)  # a bare yield to the loop, too
        return got * 2

    async def main() -> int:
        fut = asyncio.get_running_loop().create_future()
        finished, rest = start_eagerly(two_steps(fut))
        assert not finished and steps == ["before"]
        task = asyncio.ensure_future(rest)
        await asyncio.sleep(0)
        fut.set_result(21)
        return await task

    assert asyncio.run(main()) == 42 and steps == ["before", "after"]


def test_errors_reach_the_coroutine_and_come_back_out() -> None:
    seen: list[str] = []

    async def fails_later(fut: asyncio.Future[None]) -> None:
        try:
            await fut
        except KeyError:
            seen.append("caught")
            raise ValueError("after the wait") from None

    async def cancelled_while_waiting(fut: asyncio.Future[None]) -> None:
        try:
            await fut
        finally:
            seen.append("cleaned up")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        task = asyncio.ensure_future(start_eagerly(fails_later(fut))[1])
        await asyncio.sleep(0)
        fut.set_exception(KeyError("x"))
        with pytest.raises(ValueError, match="after the wait"):
            await task
        task = asyncio.ensure_future(start_eagerly(cancelled_while_waiting(loop.create_future()))[1])
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["caught", "cleaned up"]

    async def fails_at_once() -> None:
        raise RuntimeError("before any wait")

    with pytest.raises(RuntimeError, match="before any wait"):
        start_eagerly(fails_at_once())


def new_consumer() -> Consumer:
    """The consumer of an app that is never started (nothing connects to a broker); made
    inside the running event loop, which its events bind to."""
    consumer = App("faust-app-test", broker="kafka://127.0.0.1:1", web_enabled=False).consumer
    assert isinstance(consumer, Consumer)
    return consumer


def test_a_delivery_that_does_not_wait_needs_no_task() -> None:
    async def deliver() -> str:
        return "delivered"

    async def main() -> None:
        consumer = new_consumer()
        suspended = asyncio.Event()
        other = suspended.wait()
        tasks = len(asyncio.all_tasks())
        first = deliver()
        results = await consumer.wait_first(first, other)
        assert results.done == [first] and results.results == ["delivered"]
        assert not results.stopped
        assert len(asyncio.all_tasks()) == tasks
        assert inspect.getcoroutinestate(other) == inspect.CORO_CLOSED  # never left dangling

    asyncio.run(main())


def test_a_delivery_that_waits_is_still_interrupted_by_a_suspended_flow() -> None:
    """The reason Faust uses wait_first: a rebalance must not hang on a full stream buffer."""
    cancelled: list[bool] = []

    async def deliver_into_full_buffer() -> None:
        try:
            await asyncio.get_running_loop().create_future()  # the buffer never drains
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        consumer = new_consumer()
        suspend_flow = asyncio.Event()
        waiting = asyncio.ensure_future(
            consumer.wait_first(deliver_into_full_buffer(), suspend_flow.wait()))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        suspend_flow.set()
        results = await asyncio.wait_for(waiting, 5)
        assert results.results == [True]  # the flow-suspension won
        await asyncio.sleep(0)

    asyncio.run(main())
    assert cancelled == [True]


def test_a_delivery_that_waits_and_finishes_returns_its_result() -> None:
    async def deliver(room: asyncio.Event) -> str:
        await room.wait()
        return "delivered"

    async def main() -> None:
        consumer = new_consumer()
        room = asyncio.Event()
        waiting = asyncio.ensure_future(consumer.wait_first(deliver(room),
                                                            asyncio.Event().wait()))
        await asyncio.sleep(0.01)
        room.set()
        results = await asyncio.wait_for(waiting, 5)
        assert results.results == ["delivered"] and not results.stopped

    asyncio.run(main())
