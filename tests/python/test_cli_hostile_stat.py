"""`smipc stat` against a socket that answers the statistics hello with records that never
end: the command takes no more records than the server says it can have connections,
and says the peer broke the protocol, instead of keeping them all until its 2 s limit."""
import os
import re
import resource
import socket
import struct
import subprocess
import threading

import pytest

from programs import smipc_command

LAYOUT_H = os.path.join(os.path.dirname(__file__), "..", "..", "csrc", "layout.h")
MAGIC = 0x43504D53
# the protocol version the command speaks, as the library's header says it
VERSION = int(re.search(r"#define SMIPC_PROTOCOL_VERSION (\d+)u", open(LAYOUT_H).read()).group(1))
HELLO_STAT, SERVER, CONN = 3, 1, 2  # csrc/control.h, csrc/stats.h


def summary(max_clients):
    # struct smipc_stat_server (72 bytes)
    return struct.pack("<4IQ4IQ2I2Q", MAGIC, VERSION, SERVER, os.getpid(), 1, 0,
                       max_clients, 4096, 64, 1 << 26, 0, os.getuid(), 0, 0)


def record(i):
    # struct smipc_stat_conn (112 bytes)
    return struct.pack("<4IQ2IQ4Q2I4Q", MAGIC, VERSION, CONN, 0, i, 1, 0, 0, 0, 0, 0, 0,
                       0, 0, 0, 0, 0, 0)


class EndlessStats:
    """A socket where a server would be, answering the statistics hello with a summary
    and then records for ever, every `gap` seconds (0: as fast as the socket takes)."""

    def __init__(self, path, max_clients, gap):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(path)
        self.listener.listen(4)
        self.max_clients, self.gap = max_clients, gap
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.listener.accept()
        with conn:
            hello = struct.unpack("<4I", conn.recv(16))
            assert hello[:3] == (MAGIC, VERSION, HELLO_STAT), hello
            conn.send(summary(self.max_clients))
            i = 0
            try:
                while not self.stop.is_set():
                    conn.send(record(i))
                    i += 1
                    if self.gap:
                        self.stop.wait(self.gap)
            except OSError:  # the command hung up: what it should do
                pass

    def close(self):
        self.stop.set()
        self.listener.close()
        self.thread.join(timeout=10)


def limit_memory():
    # what it may take, so that a command that keeps every record cannot hurt the machine
    resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))


def stat(path):
    try:
        return subprocess.run([smipc_command(), "stat", path, "--json"], capture_output=True,
                              text=True, timeout=20, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail("smipc stat did not keep to its 2 s limit")


def test_more_records_than_the_server_can_have_clients_is_a_protocol_error(tmp_path):
    fake = EndlessStats(str(tmp_path / "fake.sock"), max_clients=4, gap=0)
    try:
        out = stat(str(tmp_path / "fake.sock"))
    finally:
        fake.close()
    assert out.returncode == 1 and "broke the protocol" in out.stderr, out
