"""asyncio: readiness through the descriptors, no threads and no polling for receives."""
import asyncio

import pytest

import smipc
import smipc.aio


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_await_recv_and_async_for(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                async def serve():
                    n = 0
                    async for msg in srv:
                        await srv.send(msg.client, msg.data[::-1])
                        n += 1
                        if n == 50:
                            return n

                server_task = asyncio.create_task(serve())
                for i in range(50):
                    await cli.send(b"abc%d" % i)
                    assert await cli.recv() == (b"abc%d" % i)[::-1]
                assert await server_task == 50
                assert srv.clients() == [cli.id]

    run(main())


def test_receive_waits_without_blocking_the_loop(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name) as srv:
            cli = await smipc.aio.Client.connect(smipc_name, timeout=5)
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.001)

            t = asyncio.create_task(ticker())
            receive = asyncio.create_task(cli.recv())
            await asyncio.sleep(0.1)
            assert not receive.done() and ticks > 10  # the loop kept running
            assert await srv.broadcast(b"news") == 1
            assert await receive == b"news"
            t.cancel()
            with pytest.raises(smipc.Timeout):
                await cli.recv(timeout=0.05)
            cli.close()

    run(main())


def test_async_send_waits_for_room(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name, ring_packets=4, packet_size=64) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                # 10 messages into a ring of 4: the last sends wait until the server reads
                sends = asyncio.gather(*(cli.send(bytes([i]) * 64) for i in range(10)))
                got = [(await srv.recv()).data[0] for _ in range(10)]
                await sends
                assert sorted(got) == list(range(10))

    run(main())
