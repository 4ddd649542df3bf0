"""smipc.aio.Server(name, events=True): await srv.recv_event() tells, in order with each
client's messages, when a client joined and when it left (closed, or killed), across
real processes; a cancelled wait for an event takes nothing."""
import asyncio
import os
import signal
import sys

import pytest

import smipc
import smipc.aio


def talks_and_closes(name, count):
    with smipc.Client(name, timeout=10) as cli:
        for i in range(count):
            cli.send(b"message %d" % i, timeout=10)
        if cli.recv(timeout=30) != b"bye":
            sys.exit("no goodbye")


def talks_and_waits(name):
    with smipc.Client(name, timeout=10) as cli:
        cli.send(b"%d" % os.getpid(), timeout=10)
        signal.pause()  # until the test kills it


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_joins_messages_and_departures_come_in_order(smipc_name, smipc_spawn):
    async def main():
        async with smipc.aio.Server(smipc_name, events=True) as srv:
            child = smipc_spawn(talks_and_closes, smipc_name, 3)
            joined = await srv.recv_event(timeout=30)
            assert isinstance(joined, smipc.Joined)
            who = joined.client
            for i in range(3):
                assert await srv.recv_event(timeout=30) == smipc.Message(who, b"message %d" % i)
            await srv.send(who, b"bye", timeout=10)
            assert await srv.recv_event(timeout=30) == smipc.Left(who)
            assert child.join(timeout=30) == 0
            with pytest.raises(smipc.Timeout):
                await srv.recv_event(timeout=0.05)

    run(main())


def test_a_client_killed_is_told_to_have_left(smipc_name, smipc_spawn):
    async def main():
        async with smipc.aio.Server(smipc_name, events=True) as srv:
            child = smipc_spawn(talks_and_waits, smipc_name)
            joined = await srv.recv_event(timeout=30)
            assert isinstance(joined, smipc.Joined)
            msg = await srv.recv_event(timeout=30)
            assert msg == smipc.Message(joined.client, b"%d" % child.pid)
            # the loop waits on the descriptor while the client dies
            waiting = asyncio.create_task(srv.recv_event(timeout=30))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            child.kill()
            assert await waiting == smipc.Left(joined.client)

    run(main())


def test_a_cancelled_recv_event_takes_nothing(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name, events=True) as srv:
            waiting = asyncio.create_task(srv.recv_event())
            await asyncio.sleep(0)  # its first turn: nothing there, so it waits
            # A client joins and talks while the loop is blocked here, so the task has
            # not run since; cancelled now, it must not have taken the join.
            cli = smipc.Client(smipc_name, timeout=5)
            cli.send(b"hello", timeout=5)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert await srv.recv_event(timeout=10) == smipc.Joined(cli.id)
            assert await srv.recv_event(timeout=10) == smipc.Message(cli.id, b"hello")

            waiting = asyncio.create_task(srv.recv_event())
            await asyncio.sleep(0)
            cli.close()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert await srv.recv_event(timeout=10) == smipc.Left(cli.id)

    run(main())


def test_recv_passes_joins_and_departures_over(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name, events=True) as srv:
            cli = await smipc.aio.Client.connect(smipc_name, timeout=5)
            await cli.send(b"only this")
            # recv() is for messages only, even on a server that asked for events
            assert await srv.recv(timeout=10) == smipc.Message(cli.id, b"only this")
            cli.close()
            with pytest.raises(smipc.Timeout):
                await srv.recv(timeout=0.1)

    run(main())
