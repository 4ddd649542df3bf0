"""smipc.aio: await cli.recv_msg() tells a broadcast from a reply sent to this client
alone (smipc.Received(data, broadcast)), from a server in another process."""
import asyncio
import select

import pytest

import smipc
import smipc.aio


def replies_and_broadcasts(name):
    with smipc.Server(name) as srv:
        while True:
            msg = srv.recv()
            srv.broadcast(b"news about " + msg.data, timeout=10)
            srv.send(msg.client, b"reply to " + msg.data, timeout=10)


def test_recv_msg_tells_a_broadcast_from_a_reply(smipc_serve):
    name = smipc_serve(replies_and_broadcasts)

    async def main():
        async with await smipc.aio.Client.connect(name, timeout=10, wait=True) as cli:
            for big in [False, True]:  # one packet; one larger than the ring (it streams)
                data = b"x" * (300_000 if big else 10)
                await cli.send(data, timeout=30)
                news = await cli.recv_msg(timeout=30)
                assert news == smipc.Received(b"news about " + data, True)
                assert news.broadcast and news.data == b"news about " + data
                assert await cli.recv_msg(timeout=30) == smipc.Received(b"reply to " + data,
                                                                        False)
            with pytest.raises(smipc.Timeout):
                await cli.recv_msg(timeout=0.05)

    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_cancelled_recv_msg_takes_nothing(smipc_serve):
    name = smipc_serve(replies_and_broadcasts)

    async def main():
        async with await smipc.aio.Client.connect(name, timeout=10, wait=True) as cli:
            waiting = asyncio.create_task(cli.recv_msg())
            await asyncio.sleep(0)  # nothing there: it waits
            cli.sync.send(b"q", timeout=10)
            # Blocks the loop until the answer is there: the task has not run since, so
            # cancelled now, it must not have taken it.
            assert select.select([cli.sync.fileno()], [], [], 30)[0]
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert await cli.recv_msg(timeout=30) == smipc.Received(b"news about q", True)
            assert await cli.recv(timeout=30) == b"reply to q"

    asyncio.run(asyncio.wait_for(main(), 60))
