"""Cancellation at every await of smipc.aio: a cancelled receive has taken nothing, a
cancelled send (or broadcast) is never sent afterwards, a cancelled connect leaves no
connection behind, and asyncio.run() ends with a send still waiting for room."""
import asyncio
import multiprocessing
import time

import pytest

import smipc
import smipc.aio
from peers import send_pending_at_exit

SMALL = {"packet_size": 64, "ring_packets": 4,  # no bulk area: large ones stream
         "bulk_size": 0, "bulk_slots": 0}  # rings of 4 messages of 64 bytes


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_a_cancelled_receive_has_taken_nothing(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                waiting = asyncio.create_task(cli.recv())
                await asyncio.sleep(0)  # its first turn: nothing there, so it waits
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting
                assert cli._ready._fd is None  # its reader went with it
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(srv.recv(), 0.05)
                await srv.send(cli.id, b"kept")
                await cli.send(b"kept too")
                assert await cli.recv(timeout=5) == b"kept"
                assert (await srv.recv(timeout=5)).data == b"kept too"

    run(main())


@pytest.mark.parametrize("timeout", [None, 30])
def test_a_cancelled_client_send_is_never_sent(smipc_name, timeout):
    async def main():
        async with smipc.aio.Server(smipc_name, **SMALL) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                for i in range(4):
                    await cli.send(b"fill %d" % i)  # the ring is full: nobody reads
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(cli.send(b"LATE", timeout=timeout), 0.2)
                for i in range(4):
                    assert (await srv.recv(timeout=5)).data == b"fill %d" % i
                await cli.send(b"AFTER")  # on the same connection, so after any LATE
                assert (await srv.recv(timeout=5)).data == b"AFTER"

    run(main())


@pytest.mark.parametrize("timeout", [None, 30])
@pytest.mark.parametrize("when", ["at its first wait", "while its worker waits"])
def test_a_cancelled_server_send_is_never_sent(smipc_name, timeout, when):
    async def main():
        async with smipc.aio.Server(smipc_name, **SMALL) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                for i in range(4):
                    await srv.send(cli.id, b"fill %d" % i)
                task = asyncio.create_task(srv.send(cli.id, b"LATE", timeout=timeout))
                if when == "at its first wait":
                    await asyncio.sleep(0)
                else:
                    await asyncio.wait([task], timeout=0.2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                for i in range(4):
                    assert await cli.recv(timeout=5) == b"fill %d" % i
                await srv.send(cli.id, b"AFTER")
                assert await cli.recv(timeout=5) == b"AFTER"

    run(main())


def test_a_cancelled_broadcast_is_never_sent_to_the_client_that_had_no_room(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name, **SMALL) as srv:
            slow = await smipc.aio.Client.connect(smipc_name, timeout=5)
            fast = await smipc.aio.Client.connect(smipc_name, timeout=5)
            for i in range(4):
                await srv.send(slow.id, b"fill %d" % i)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(srv.broadcast(b"NEWS"), 0.2)
            assert await fast.recv(timeout=5) == b"NEWS"  # it had room: it got it, once
            with pytest.raises(smipc.Timeout):
                fast.sync.recv(timeout=0)  # (the blocking call: it looks)
            for i in range(4):
                assert await slow.recv(timeout=5) == b"fill %d" % i
            await srv.send(slow.id, b"AFTER")
            assert await slow.recv(timeout=5) == b"AFTER"
            slow.close()
            fast.close()

    run(main())


def test_a_cancelled_connect_leaves_no_connection(smipc_server, smipc_name):
    async def main():
        task = asyncio.create_task(smipc.aio.Client.connect(smipc_name, timeout=5))
        await asyncio.sleep(0)  # the handshake runs in a worker now
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    deadline = time.monotonic() + 10
    while smipc_server.clients():  # the worker's connection is closed once it is made
        assert time.monotonic() < deadline, smipc_server.clients()
        time.sleep(0.01)


def test_asyncio_run_ends_with_a_send_waiting_for_room(smipc_name, smipc_spawn):
    with smipc.Server(smipc_name, **SMALL) as srv:
        done = multiprocessing.get_context("spawn").Event()
        child = smipc_spawn(send_pending_at_exit, smipc_name, 4, done)
        assert done.wait(60), "asyncio.run() did not return"
        for _ in range(4):
            assert srv.recv(timeout=10).data == bytes(64)
        assert srv.recv(timeout=10).data == b"AFTER"
        assert child.join(timeout=30) == 0


@pytest.mark.parametrize("timeout", [None, 30])
@pytest.mark.parametrize("side", ["client", "server"])
def test_a_cancelled_send_larger_than_the_ring_is_never_delivered(smipc_name, timeout, side):
    # A message larger than the ring streams from a worker in one call; cancelled, the
    # call is told to give up, the part that went is aborted, and asyncio.run() ends.
    big = bytes(range(256)) * 40  # 10 KiB through a 256-byte ring
    async def main():
        async with smipc.aio.Server(smipc_name, **SMALL) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                if side == "client":
                    send = cli.send(big, timeout=timeout)
                else:
                    send = srv.send(cli.id, big, timeout=timeout)
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(send, 0.2)  # nobody reads: it cannot finish
                if side == "client":
                    with pytest.raises(smipc.Timeout):  # what went of it is dropped
                        await srv.recv(timeout=0.3)
                    await cli.send(b"AFTER")
                    assert (await srv.recv(timeout=5)).data == b"AFTER"
                else:
                    with pytest.raises(smipc.Timeout):
                        await cli.recv(timeout=0.3)
                    await srv.send(cli.id, b"AFTER")
                    assert await cli.recv(timeout=5) == b"AFTER"

    run(main())
