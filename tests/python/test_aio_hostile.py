"""A client that breaks the protocol under ``async for msg in server``: it is dropped
(and logged, with its id), and the loop goes on serving the others."""
import asyncio
import logging
import subprocess

import pytest

import smipc
import smipc.aio
from programs import helper


def test_a_hostile_client_does_not_end_async_for(smipc_name, caplog):
    async def main():
        loop = asyncio.get_running_loop()
        async with smipc.aio.Server(smipc_name) as srv:
            honest = await smipc.aio.Client.connect(smipc_name, timeout=5)
            seen = []

            async def serve():
                async for msg in srv:
                    seen.append((msg.client, msg.data))
                    if msg.data == b"last":
                        return

            serving = asyncio.create_task(serve())
            await honest.send(b"before")
            bad = subprocess.Popen([helper("hostile_client"), smipc_name],
                                   stdout=subprocess.PIPE, text=True)
            try:
                line = await loop.run_in_executor(None, bad.stdout.readline)
                assert line.startswith("hostile_client: garbage published")
                [bad_id] = set(srv.clients()) - {honest.id}
                # Its garbage is ready (it wakes nobody): the receive woken for "after"
                # meets it first, or the one after, before "last" in any case.
                await honest.send(b"after")
                await honest.send(b"last")
                await asyncio.wait_for(serving, 30)
                # it exits 0 once the server dropped it
                assert await loop.run_in_executor(None, bad.wait, 30) == 0
            finally:
                bad.kill()
            assert seen == [(honest.id, b"before"), (honest.id, b"after"),
                            (honest.id, b"last")]
            assert srv.clients() == [honest.id]
            honest.close()
            return bad_id

    with caplog.at_level(logging.WARNING, logger="smipc.aio"):
        bad_id = asyncio.run(asyncio.wait_for(main(), 60))
    assert any(f"dropped client {bad_id}" in r.getMessage() for r in caplog.records)


def test_await_recv_raises_protocol_error_with_the_client(smipc_name):
    async def main():
        loop = asyncio.get_running_loop()
        async with smipc.aio.Server(smipc_name) as srv:
            bad = subprocess.Popen([helper("hostile_client"), smipc_name],
                                   stdout=subprocess.PIPE, text=True)
            try:
                line = await loop.run_in_executor(None, bad.stdout.readline)
                assert line.startswith("hostile_client: garbage published")
                [bad_id] = srv.clients()
                with pytest.raises(smipc.ProtocolError) as info:
                    await srv.recv(timeout=10)
                assert info.value.client == bad_id
                assert await loop.run_in_executor(None, bad.wait, 30) == 0
            finally:
                bad.kill()

    asyncio.run(asyncio.wait_for(main(), 60))
