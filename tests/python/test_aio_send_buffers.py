"""smipc.aio sends any bytes-like object, as the sync calls do (a memoryview, bytearray
or array used to fail with "a bytes-like object is required, not '__CDataFromBuf'")."""
import array
import asyncio

import pytest

import smipc
import smipc.aio

SMALL = {"packet_size": 64, "ring_packets": 4,  # no bulk area: large ones stream
         "bulk_size": 0, "bulk_slots": 0}  # 256 bytes fit in a ring at once


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


@pytest.mark.parametrize("size", [5, 1000])  # fits the ring; larger, so it streams
def test_every_send_takes_any_bytes_like_object(smipc_name, size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)

    async def main():
        async with smipc.aio.Server(smipc_name, **SMALL) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=5) as cli:
                # the sync receive, in a thread: it drains a streamed message as it comes
                loop = asyncio.get_running_loop()
                reader = loop.run_in_executor(None, srv.sync.recv, 10)
                await cli.send(memoryview(data), timeout=10)
                assert (await reader).data == data
                reader = loop.run_in_executor(None, srv.sync.recv, 10)
                await cli.send(bytearray(data), timeout=10)
                assert (await reader).data == data

                reader = loop.run_in_executor(None, cli.sync.recv, 10)
                await srv.send(cli.id, memoryview(bytearray(data)), timeout=10)
                assert await reader == data
                reader = loop.run_in_executor(None, cli.sync.recv, 10)
                assert await srv.broadcast(array.array("B", data), timeout=10) == 1
                assert await reader == data

                with pytest.raises(TypeError, match="bytes-like"):
                    await cli.send("text")  # type: ignore[arg-type]
                with pytest.raises(TypeError, match="bytes-like"):
                    await srv.send(cli.id, "text")  # type: ignore[arg-type]

    run(main())
