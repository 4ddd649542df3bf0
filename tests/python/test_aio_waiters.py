"""smipc.aio with several tasks waiting on one handle, and close() while they wait: one
reader on the descriptor wakes them all, each message goes to exactly one of them, and
close() ends every wait with Closed and takes the reader off the loop."""
import asyncio
import os
import socket

import pytest

import smipc
import smipc.aio


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def until_waiting(handle, n):
    """Yields to the loop until n tasks wait on handle (each took its first turn: tried
    a receive, found nothing, and registered as a waiter)."""
    for _ in range(1000):
        if len(handle._ready._waiters) == n:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{len(handle._ready._waiters)} tasks wait, not {n}")


def test_several_tasks_receive_on_one_client(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                tasks = [asyncio.create_task(cli.recv()) for _ in range(5)]
                await until_waiting(cli, 5)
                for i in range(5):
                    await srv.send(cli.id, b"m%d" % i)
                got = await asyncio.gather(*tasks)
                assert sorted(got) == [b"m%d" % i for i in range(5)]  # each once
                assert cli._ready._fd is None  # nobody waits: no reader

    run(main())


def test_several_tasks_receive_on_one_server_while_messages_trickle_in(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                got = []

                async def worker():
                    while True:
                        msg = await srv.recv()
                        got.append(msg.data)
                        if msg.data == b"end":
                            return

                tasks = [asyncio.create_task(worker()) for _ in range(3)]
                await until_waiting(srv, 3)
                for i in range(30):
                    await cli.send(b"%d" % i)
                    if i % 7 == 0:
                        await until_waiting(srv, 3)  # all asleep again, then one more
                for _ in range(3):
                    await cli.send(b"end")
                await asyncio.gather(*tasks)
                assert sorted(got) == sorted([b"%d" % i for i in range(30)] + [b"end"] * 3)

    run(main())


def test_close_wakes_every_waiting_task_with_closed(smipc_name):
    async def main():
        srv = smipc.aio.Server(smipc_name)
        cli = await smipc.aio.Client.connect(smipc_name, timeout=5)
        loop = asyncio.get_running_loop()
        fds = cli.sync.fileno(), srv.sync.fileno()
        on_client = [asyncio.create_task(cli.recv()) for _ in range(3)]
        on_server = [asyncio.create_task(srv.recv(timeout=None)) for _ in range(2)]
        await until_waiting(cli, 3)
        await until_waiting(srv, 2)
        cli.close()
        srv.close()
        for t in on_client + on_server:
            with pytest.raises(smipc.Closed, match="closed"):
                await asyncio.wait_for(t, 10)
        # the descriptors are gone and so are their readers
        assert not loop.remove_reader(fds[0]) and not loop.remove_reader(fds[1])
        with pytest.raises(smipc.Closed):
            await cli.recv(timeout=0)
        with pytest.raises(smipc.Closed):
            await srv.recv()

    run(main())


def test_close_from_another_thread_wakes_the_loops_tasks(smipc_name):
    async def main():
        loop = asyncio.get_running_loop()
        srv = smipc.aio.Server(smipc_name)
        cli = await smipc.aio.Client.connect(smipc_name, timeout=5)
        waiting = [asyncio.create_task(cli.recv()) for _ in range(2)]
        await until_waiting(cli, 2)
        await loop.run_in_executor(None, cli.close)  # hands the close to the loop's thread
        for t in waiting:
            with pytest.raises(smipc.Closed) as info:
                await asyncio.wait_for(t, 10)
            assert info.value.status == -9
        assert cli.closed and cli._ready._fd is None
        srv.close()

    run(main())


def test_a_socket_that_gets_a_closed_handles_descriptor_number_sees_its_data(smipc_name):
    async def main():
        loop = asyncio.get_running_loop()
        srv = smipc.aio.Server(smipc_name)
        cli = await smipc.aio.Client.connect(smipc_name, timeout=5)
        fd = cli.sync.fileno()
        waiting = asyncio.create_task(cli.recv())
        await until_waiting(cli, 1)
        cli.close()
        with pytest.raises(smipc.Closed):
            await waiting
        a, b = socket.socketpair()
        if a.fileno() == fd:
            a, b = b, a
        if b.fileno() == fd:  # it got the number the client's descriptor had already
            reused = b
        else:  # give it that number
            os.dup2(b.fileno(), fd)
            b.close()
            reused = socket.socket(fileno=fd)
        reused.setblocking(False)
        a.send(b"for the new socket")
        assert await asyncio.wait_for(loop.sock_recv(reused, 100), 10) == b"for the new socket"
        reused.close()
        a.close()
        srv.close()

    run(main())


def test_async_for_ends_when_the_server_is_closed(smipc_name):
    async def main():
        srv = smipc.aio.Server(smipc_name)
        cli = await smipc.aio.Client.connect(smipc_name, timeout=5)

        async def serve():
            seen = []
            async for msg in srv:
                seen.append(msg.data)
                if msg.data == b"last":
                    srv.close()  # from inside the loop: it ends, no exception
            return seen

        task = asyncio.create_task(serve())
        await cli.send(b"first")
        await cli.send(b"last")
        assert await task == [b"first", b"last"]
        cli.close()

    run(main())


def test_recv_with_timeout_0_takes_a_queued_message(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                await srv.send(cli.id, b"queued")
                assert await cli.recv(timeout=0) == b"queued"
                await cli.send(b"queued too")
                assert (await srv.recv(timeout=0)).data == b"queued too"
                with pytest.raises(smipc.Timeout):
                    await cli.recv(timeout=0)

    run(main())
