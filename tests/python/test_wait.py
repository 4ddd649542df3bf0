"""Client(name, wait=True): a client started before its server connects once the server is
up, with no retry loop of its own; it gives up at its timeout; the asyncio connect does the
same and a cancellation ends its wait."""
import asyncio
import threading
import time

import pytest

import smipc
import smipc.aio


def echo_once(name):
    with smipc.Server(name) as srv:
        msg = srv.recv(timeout=30)
        srv.send(msg.client, msg.data.upper(), timeout=5)
        srv.recv(timeout=30)  # until the client says it is done


def ask(name, result):
    try:
        with smipc.Client(name, timeout=30, wait=True) as cli:
            cli.send(b"hello", timeout=5)
            result.append(cli.recv(timeout=10))
            cli.send(b"done", timeout=5)
    except Exception as e:  # reported below
        result.append(e)


def test_a_client_waits_for_a_server_started_later(smipc_name, smipc_spawn):
    with pytest.raises(smipc.NotFound):
        smipc.Client(smipc_name, timeout=1)  # nobody yet: at once without wait
    result = []
    waiting = threading.Thread(target=ask, args=(smipc_name, result))
    waiting.start()
    server = smipc_spawn(echo_once, smipc_name)
    waiting.join(timeout=60)
    assert not waiting.is_alive() and result == [b"HELLO"]
    assert server.join(timeout=30) == 0


def test_waiting_gives_up_at_the_timeout(smipc_name):
    t0 = time.monotonic()
    with pytest.raises(smipc.Timeout, match="no server came up"):
        smipc.Client(smipc_name, timeout=0.2, wait=True)
    assert time.monotonic() - t0 < 10


def test_asyncio_connect_waits_and_can_be_cancelled(smipc_name, smipc_spawn):
    async def main():
        # cancelled while it waits for a name nobody serves: ends at once, no thread left
        task = asyncio.create_task(smipc.aio.Client.connect(smipc_name + "-never", wait=True))
        await asyncio.sleep(0.1)  # let it start waiting (the test is of what follows)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # and one that waits for a server started after it
        connecting = asyncio.create_task(
            smipc.aio.Client.connect(smipc_name, timeout=30, wait=True))
        server = smipc_spawn(echo_once, smipc_name)
        async with await connecting as cli:
            await cli.send(b"hi")
            assert await cli.recv(timeout=10) == b"HI"
            await cli.send(b"done")
        assert server.join(timeout=30) == 0

    asyncio.run(asyncio.wait_for(main(), 60))
