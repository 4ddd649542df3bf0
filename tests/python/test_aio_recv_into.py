"""smipc.aio recv_into: a message lands in the caller's buffer, with the sync call's
semantics (BufferTooSmall with .needed, the message staying queued), waiting on the
descriptor with no worker thread, and a cancelled wait takes nothing."""
import array
import asyncio
import concurrent.futures

import pytest

import smipc
import smipc.aio
from peers import echo_client, payload


class NoThreads(concurrent.futures.ThreadPoolExecutor):
    """A default executor that fails any call handed to a worker thread."""

    def submit(self, *args, **kwargs):
        raise AssertionError("a receive handed work to a thread")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def pair(name):
    srv = smipc.aio.Server(name)
    cli = await smipc.aio.Client.connect(name, timeout=5)
    asyncio.get_running_loop().set_default_executor(NoThreads())  # from here on
    return srv, cli


def test_client_recv_into_waits_for_the_message_without_a_thread(smipc_name):
    async def main():
        srv, cli = await pair(smipc_name)
        async with srv, cli:
            buf = bytearray(64)
            waiting = asyncio.create_task(cli.recv_into(buf))
            await asyncio.sleep(0.05)
            assert not waiting.done()  # nothing there yet: it waits on the descriptor
            srv.sync.send(cli.id, b"hello", timeout=5)
            assert await waiting == 5
            assert buf[:5] == b"hello" and buf[5:] == bytes(59)
            # any writable buffer: a memoryview slice, an array
            srv.sync.send(cli.id, b"world", timeout=5)
            assert await cli.recv_into(memoryview(buf)[10:20], timeout=5) == 5
            assert buf[10:15] == b"world"
            numbers = array.array("i", [0, 0])
            srv.sync.send(cli.id, array.array("i", [7, -9]), timeout=5)
            assert await cli.recv_into(numbers, timeout=5) == 8
            assert numbers.tolist() == [7, -9]

    run(main())


def test_server_recv_into_says_which_client_sent_it(smipc_name):
    async def main():
        srv, cli = await pair(smipc_name)
        async with srv, cli:
            other = smipc.Client(smipc_name, timeout=5)
            buf = bytearray(32)
            waiting = asyncio.create_task(srv.recv_into(buf))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            other.send(b"from the other", timeout=5)
            assert await waiting == (other.id, 14)
            assert buf[:14] == b"from the other"
            cli.sync.send(b"mine", timeout=5)
            assert await srv.recv_into(buf, timeout=5) == (cli.id, 4)
            assert buf[:4] == b"mine"
            other.close()

    run(main())


def test_a_buffer_too_small_says_the_size_and_leaves_the_message_queued(smipc_name):
    async def main():
        srv, cli = await pair(smipc_name)
        async with srv, cli:
            big = payload(1000, 1)
            srv.sync.send(cli.id, big, timeout=5)
            with pytest.raises(smipc.BufferTooSmall) as e:
                await cli.recv_into(bytearray(10), timeout=5)
            assert e.value.needed == 1000
            buf = bytearray(1000)
            assert await cli.recv_into(buf, timeout=5) == 1000 and buf == big

            cli.sync.send(big, timeout=5)
            with pytest.raises(smipc.BufferTooSmall) as e:
                await srv.recv_into(bytearray(999), timeout=5)
            assert e.value.needed == 1000
            assert await srv.recv(timeout=5) == (cli.id, big)

    run(main())


def test_recv_into_timeout_and_bad_buffers(smipc_name):
    async def main():
        srv, cli = await pair(smipc_name)
        async with srv, cli:
            with pytest.raises(smipc.Timeout):
                await cli.recv_into(bytearray(8), timeout=0.05)
            with pytest.raises(smipc.Timeout):
                await srv.recv_into(bytearray(8), timeout=0)
            with pytest.raises(TypeError, match="writable"):
                await cli.recv_into(b"read-only")
            with pytest.raises(smipc.InvalidArgument):
                await srv.recv_into(bytearray(8), timeout=-1)
            srv.sync.send(cli.id, b"still there", timeout=5)
            assert await cli.recv(timeout=5) == b"still there"

    run(main())


def test_a_cancelled_recv_into_has_taken_nothing(smipc_name):
    async def main():
        srv, cli = await pair(smipc_name)
        async with srv, cli:
            buf = bytearray(16)
            waiting = asyncio.create_task(cli.recv_into(buf))
            await asyncio.sleep(0)  # its first turn: nothing there, so it waits
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            srv.sync.send(cli.id, b"kept", timeout=5)
            assert await cli.recv(timeout=5) == b"kept"
            assert buf == bytes(16)

            waiting = asyncio.create_task(srv.recv_into(buf))
            await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            cli.sync.send(b"kept too", timeout=5)
            assert await srv.recv(timeout=5) == (cli.id, b"kept too")

    run(main())


@pytest.mark.parametrize("config, sizes", [
    ({}, [10, 70000, 3]),  # one of several packets (18 of 4 KiB)
    ({"packet_size": 64, "ring_packets": 4, "bulk_size": 0, "bulk_slots": 0},
     [10, 1000, 3]),  # one larger than the ring
], ids=["packets", "streamed"])
def test_recv_into_a_message_from_another_process(smipc_name, smipc_spawn, config, sizes):
    # The child writes each message while the server's tries with timeout 0 meet it
    # half-written: the rest of it must still wake the loop (it did not before 9558b26).
    async def main():
        async with smipc.aio.Server(smipc_name, **config) as srv:
            child = smipc_spawn(echo_client, smipc_name, sizes)
            buf = bytearray(max(sizes))
            for i, size in enumerate(sizes):
                client, n = await srv.recv_into(buf, timeout=30)
                assert n == size and buf[:n] == payload(size, i)
                await srv.send(client, memoryview(buf)[:n], timeout=30)
            return child

    child = run(main())
    assert child.join(timeout=30) == 0
