"""The interop matrix: every ordered pair of {C, Python, Java, Go}, one as the server and
one as the client, each peer in a process of its own (16 pairs). Each pair: three clients
at once echo messages of 0 B to 3 MiB (the packet size and one either side of it among
them), meet at a barrier after which the server broadcasts to all three, then the server
is killed and every client must learn it within a second.

The peers are the example programs examples/matrix_peer.c, tests/python/matrix/peer.py,
bindings/java/examples/MatrixPeer.java and bindings/go/examples/matrix_peer; they tell
what they did one line at a time, so the test synchronises on their output, never on
sleeps. SMIPC_EXAMPLES_DIR names the built C examples, SMIPC_BINDINGS_DIR the build's
bindings/ folder (scripts/test sets both); a language whose peer is not built is skipped."""
import os
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

LANGUAGES = ["c", "python", "java", "go"]
CLIENTS = 3
STEP_TIMEOUT = 120.0  # seconds for one step of a peer: a loaded machine starts JVMs slowly


def peer_command(lang):
    """The command line that starts lang's peer, or pytest.skip when it is not built."""
    here = os.path.dirname(os.path.abspath(__file__))
    if lang == "python":
        return [sys.executable, os.path.join(here, "matrix", "peer.py")], {}
    if lang == "c":
        folder = os.environ.get("SMIPC_EXAMPLES_DIR")
        if not folder:
            pytest.fail("SMIPC_EXAMPLES_DIR must name the folder with the built C examples")
        path = os.path.join(folder, "matrix_peer")
        assert os.access(path, os.X_OK), f"{path} is not built"
        return [path], {}
    bindings = os.environ.get("SMIPC_BINDINGS_DIR")
    if not bindings:
        pytest.skip("SMIPC_BINDINGS_DIR is not set: the Java and Go peers are not known")
    # the build's libsmipc, for the Go peer (the JNI library has a build rpath to it)
    env = {"LD_LIBRARY_PATH": os.path.join(bindings, "..", "csrc")}
    if lang == "go":
        path = os.path.join(bindings, "go", "matrix_peer")
        if not os.access(path, os.X_OK):
            pytest.skip(f"the Go binding was not built ({path})")
        return [path], env
    java_dir = os.path.join(bindings, "java")
    jars = [os.path.join(java_dir, "smipc.jar"),
            os.path.join(java_dir, "examples", "smipc-java-examples.jar")]
    java = shutil.which("java")
    if not java or not all(os.path.exists(j) for j in jars):
        pytest.skip(f"the Java binding was not built ({java_dir})")
    return [java, "-Djava.library.path=" + java_dir, "-cp", ":".join(jars), "MatrixPeer"], env


class Peer:
    """A peer process whose stdout is read line by line, each line within a timeout."""

    def __init__(self, lang, args, tmp_path, tag):
        cmd, env = peer_command(lang)
        self.what = f"{lang} {' '.join(args[:1])} {tag}"
        self.err_path = tmp_path / f"{tag}.stderr"
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd + args, stdout=subprocess.PIPE, stderr=err,
                                         env=dict(os.environ, SMIPC_DIR=str(tmp_path), **env))
        self.pending = b""

    def line(self, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                pytest.fail(f"{self.what}: no line within {timeout} s; stderr: {self.stderr()}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                self.proc.wait(timeout=30)
                pytest.fail(f"{self.what} exited {self.proc.returncode} before its next line; "
                            f"stderr: {self.stderr()}")
            self.pending += chunk
        first, self.pending = self.pending.split(b"\n", 1)
        return first.decode()

    def expect(self, want):
        got = self.line()
        assert got == want, f"{self.what} said {got!r}, not {want!r}; stderr: {self.stderr()}"

    def stderr(self):
        return self.err_path.read_text(errors="replace").strip()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


@pytest.mark.parametrize("client_lang", LANGUAGES)
@pytest.mark.parametrize("server_lang", LANGUAGES)
def test_pair(server_lang, client_lang, tmp_path):
    name = f"matrix-{server_lang}-{client_lang}"
    peers = []
    try:
        server = Peer(server_lang, ["server", name], tmp_path, "server")
        peers.append(server)
        server.expect("ready")
        # distinct seeds: a reply that reached the wrong client would not match
        clients = [Peer(client_lang, ["client", name, str(10 * i + 1)], tmp_path, f"client{i}")
                   for i in range(CLIENTS)]
        peers += clients
        ids = set()
        for c in clients:
            said = c.line()
            assert said.startswith("connected "), f"{c.what}: {said!r}; {c.stderr()}"
            ids.add(int(said.split()[1]))
        assert len(ids) == CLIENTS, f"three clients, ids {ids}"
        for step in ("echo ok", "broadcast ok", "waiting"):
            for c in clients:
                c.expect(step)
        server.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        for c in clients:
            c.expect("closed")
            late = time.monotonic() - killed
            assert late < 1.0, f"{c.what} learnt the server died after {late:.2f} s"
        assert server.proc.wait(timeout=30) == -signal.SIGKILL
        for c in clients:
            assert c.proc.wait(timeout=60) == 0, f"{c.what}: {c.stderr()}"
    finally:
        for p in peers:
            p.kill()
