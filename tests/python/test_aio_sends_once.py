"""Every smipc.aio send happens once: a broadcast that has to wait for one client's room
is not sent again to the others, and a message larger than the ring streams in one
transfer, never started, aborted and started again."""
import asyncio
import json
import subprocess
import threading

import pytest

import smipc
import smipc.aio
from peers import payload
from programs import smipc_command

SMALL = {"packet_size": 64, "ring_packets": 4,  # no bulk area: large ones stream
         "bulk_size": 0, "bulk_slots": 0}


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_a_broadcast_waiting_for_one_client_reaches_the_others_once(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name, **SMALL) as srv:
            slow = await smipc.aio.Client.connect(smipc_name, timeout=5)
            fast = await smipc.aio.Client.connect(smipc_name, timeout=5)
            for i in range(4):
                await srv.send(slow.id, b"fill %d" % i)  # no room left for slow
            news = asyncio.create_task(srv.broadcast(b"NEWS", timeout=30))
            assert await fast.recv(timeout=5) == b"NEWS"
            got = [await slow.recv(timeout=5) for _ in range(5)]
            assert got == [b"fill %d" % i for i in range(4)] + [b"NEWS"]
            assert await news == 2
            for cli in (fast, slow):
                with pytest.raises(smipc.Timeout):
                    cli.sync.recv(timeout=0)  # once each, not twice
            slow.close()
            fast.close()

    run(main())


def test_a_broadcast_that_times_out_says_how_many_got_it(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name, **SMALL) as srv:
            slow = await smipc.aio.Client.connect(smipc_name, timeout=5)
            fast = await smipc.aio.Client.connect(smipc_name, timeout=5)
            for i in range(4):
                await srv.send(slow.id, b"fill %d" % i)
            with pytest.raises(smipc.Timeout) as info:
                await srv.broadcast(b"NEWS", timeout=0.2)
            assert info.value.delivered == 1
            assert await fast.recv(timeout=5) == b"NEWS"
            with pytest.raises(smipc.Timeout):
                fast.sync.recv(timeout=0)
            for i in range(4):
                assert await slow.recv(timeout=5) == b"fill %d" % i
            await srv.send(slow.id, b"AFTER")  # the timed-out copy never comes late
            assert await slow.recv(timeout=5) == b"AFTER"
            slow.close()
            fast.close()

    run(main())


@pytest.mark.parametrize("timeout", [None, 30])
def test_messages_larger_than_the_ring_stream_once(smipc_name, timeout):
    # 100 kB through a ring of 64 KiB, to a client that reads as fast as it can: each
    # message goes in one transfer; `smipc stat` counts the transfers the server aborted.
    count, size = 20, 100_000
    async def main():
        async with smipc.aio.Server(smipc_name, packet_size=4096, ring_packets=16) as srv:
            cli = smipc.Client(smipc_name, timeout=5)
            got = []
            reader = threading.Thread(
                target=lambda: got.extend(cli.recv(timeout=30) for _ in range(count)))
            reader.start()
            for i in range(count):
                await srv.send(cli.id, payload(size, i), timeout=timeout)
            await asyncio.get_running_loop().run_in_executor(None, reader.join, 60)
            assert got == [payload(size, i) for i in range(count)]
            out = subprocess.run([smipc_command(), "stat", smipc_name, "--json"],
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            [conn] = json.loads(out.stdout)["connections"]
            assert conn["msgs_out"] == count and conn["aborts"] == 0, conn
            cli.close()

    run(main())
