"""Arguments at the edges of what the C types hold become the package's own answers:
an infinite timeout waits for ever, a client id no client can have is NoSuchClient, and
never an OverflowError from the conversion to C."""
import asyncio
import math

import pytest

import smipc
import smipc.aio

INF = float("inf")


def test_an_infinite_timeout_waits_for_ever(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=INF) as cli:
        cli.send(b"up", timeout=INF)
        assert smipc_server.recv(timeout=INF).data == b"up"
        smipc_server.send(cli.id, b"down", timeout=INF)
        assert cli.recv(timeout=math.inf) == b"down"
        assert smipc_server.broadcast(b"all", timeout=INF) == 1
        assert cli.recv_into(bytearray(8), timeout=INF) == 3
        cli.send(b"x" * 100_000, timeout=INF)  # larger than the scratch buffer
        assert smipc_server.recv(timeout=INF).data == b"x" * 100_000


def test_an_infinite_timeout_in_asyncio(smipc_name):
    async def main():
        async with smipc.aio.Server(smipc_name) as srv:
            async with await smipc.aio.Client.connect(smipc_name, timeout=INF) as cli:
                await cli.send(b"up", timeout=INF)
                assert (await srv.recv(timeout=INF)).data == b"up"
                await srv.send(cli.id, b"down", timeout=INF)
                assert await cli.recv(timeout=INF) == b"down"
                assert await srv.broadcast(b"all", timeout=INF) == 1

    asyncio.run(asyncio.wait_for(main(), 30))


@pytest.mark.parametrize("client", [-1, 2**64, 2**100, -(2**70)])
def test_a_client_id_out_of_range_is_no_such_client(smipc_server, client):
    with pytest.raises(smipc.NoSuchClient) as info:
        smipc_server.send(client, b"x", timeout=1)
    assert isinstance(info.value, LookupError) and info.value.status == -10


@pytest.mark.parametrize("timeout", [-1, -0.001, float("nan"), -INF])
def test_a_negative_or_nan_timeout_is_invalid_everywhere(smipc_server, smipc_name, timeout):
    with smipc.Client(smipc_name, timeout=5) as cli:
        for call in (lambda: cli.recv(timeout=timeout), lambda: cli.send(b"x", timeout),
                     lambda: cli.recv_into(bytearray(1), timeout),
                     lambda: smipc_server.recv(timeout), lambda: smipc_server.broadcast(
                         b"x", timeout), lambda: smipc_server.send(cli.id, b"x", timeout),
                     lambda: smipc.Client(smipc_name, timeout=timeout)):
            with pytest.raises(smipc.InvalidArgument):
                call()


def test_connect_with_timeout_0_to_a_live_idle_server(smipc_server, smipc_name):
    for _ in range(20):
        smipc.Client(smipc_name, timeout=0).close()
