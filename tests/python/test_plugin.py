"""The pytest plugin's fixtures, beyond what every other test uses them for."""
from peers import start_own_children


def test_a_spawned_function_may_start_processes_of_its_own(smipc_server, smipc_spawn):
    child = smipc_spawn(start_own_children, smipc_server.name, 2)
    for _ in range(4):  # two grandchildren, two messages each
        msg = smipc_server.recv(timeout=30)
        smipc_server.send(msg.client, msg.data, timeout=10)
    assert child.join(timeout=60) == 0
