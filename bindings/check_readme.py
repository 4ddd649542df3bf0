"""The README's Java and Go examples run as written: the code blocks of "Using it from
Java" (or Go) are written out, built the way a user builds them, and run, a server and a
client in two processes; then the server again with the third block, the zero-copy client.

    check_readme.py java README BUILD PREFIX DATADIR LIBDIR JAVAC JAVA MESON
        installs the build into a scratch DESTDIR (ninja install) and builds and runs the
        README's programs against the installed smipc.jar and libsmipc_java.so alone
    check_readme.py go README BUILD SOURCE GO_TOOL GO
        makes a module of the README's programs that requires smipc.org/smipc with a
        replace pointing at bindings/go, and go builds it (the go tool runs SWIG)

The README's blocks must also be the files under bindings/*/examples/, so the examples
a user reads there are the ones tested."""
import os
import re
import subprocess
import sys
import tempfile

TIMEOUT = 120


def blocks(readme, title, lang):
    text = open(readme).read()
    section = text[text.index(title):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```" + lang + r"\n(.*?)```", section, re.S)


def same_as(code, path):
    if open(path).read() != code:
        sys.exit(f"the README's block differs from {path}")


def run_pair(server_cmd, client_cmd, env):
    server = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        said = server.stdout.readline().strip()
        if said != "serving":
            sys.exit(f"the server said {said!r}")
        out = subprocess.run(client_cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT)
        print(out.stdout, out.stderr, end="")
        if out.returncode != 0 or out.stdout.strip() != "client got HELLO":
            sys.exit(f"the client exited {out.returncode}, saying {out.stdout!r}")
        if server.wait(timeout=TIMEOUT) != 0:
            sys.exit(f"the server exited {server.returncode}")
    finally:
        server.kill()
        server.wait()


def java(readme, build, prefix, datadir, libdir, javac, java_prog, meson):
    server, client, zero_copy = blocks(readme, "## Using it from Java", "java")[:3]
    here = os.path.dirname(os.path.abspath(__file__))
    same_as(server, os.path.join(here, "java", "examples", "EchoServer.java"))
    same_as(client, os.path.join(here, "java", "examples", "EchoClient.java"))
    same_as(zero_copy, os.path.join(here, "java", "examples", "ZeroCopyClient.java"))
    with tempfile.TemporaryDirectory() as tmp:
        dest = os.path.join(tmp, "dest")
        subprocess.run([meson, "install", "--no-rebuild", "--quiet", "-C", build,
                        "--destdir", dest], check=True, timeout=TIMEOUT,
                       stdout=subprocess.DEVNULL)
        root = dest + os.path.join(prefix, "")
        jar = os.path.join(root, datadir, "java", "smipc.jar")
        jni = os.path.join(root, libdir, "jni")
        if not os.path.exists(os.path.join(jni, "libsmipc_java.so")):
            sys.exit(f"ninja install put no libsmipc_java.so in {jni}")
        programs = (("EchoServer", server), ("EchoClient", client),
                    ("ZeroCopyClient", zero_copy))
        for name, code in programs:
            with open(os.path.join(tmp, name + ".java"), "w") as f:
                f.write(code)
        subprocess.run([javac, "-cp", jar, "-d", tmp] +
                       [os.path.join(tmp, name + ".java") for name, _ in programs],
                       check=True, timeout=TIMEOUT)
        # the installed libsmipc, not the build's: LD_LIBRARY_PATH stands in for ldconfig
        env = dict(os.environ, SMIPC_DIR=tmp, LD_LIBRARY_PATH=os.path.join(root, libdir))
        run = [java_prog, "-Djava.library.path=" + jni, "-cp", jar + ":" + tmp]
        run_pair(run + ["EchoServer"], run + ["EchoClient"], env)
        run_pair(run + ["EchoServer"], run + ["ZeroCopyClient"], env)


def go(readme, build, source, go_tool, go_prog):
    server, client, zero_copy = blocks(readme, "## Using it from Go", "go")[:3]
    examples = os.path.join(source, "bindings", "go", "examples")
    same_as(server, os.path.join(examples, "echo_server", "main.go"))
    same_as(client, os.path.join(examples, "echo_client", "main.go"))
    same_as(zero_copy, os.path.join(examples, "zero_copy_client", "main.go"))
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "go.mod"), "w") as f:
            f.write("module readme\n\ngo 1.19\n\nrequire smipc.org/smipc v0.0.0\n\n"
                    f"replace smipc.org/smipc => {source}/bindings/go\n")
        for name, code in (("server", server), ("client", client), ("zero_copy", zero_copy)):
            os.mkdir(os.path.join(tmp, name))
            with open(os.path.join(tmp, name, "main.go"), "w") as f:
                f.write(code)
            subprocess.run(["sh", go_tool, go_prog, build, source, "build", "-o",
                            os.path.join(tmp, name + ".bin"), "./" + name], check=True,
                           timeout=TIMEOUT * 3, env=dict(os.environ, GO_MODULE_DIR=tmp))
        env = dict(os.environ, SMIPC_DIR=tmp, LD_LIBRARY_PATH=os.path.join(build, "csrc"))
        run_pair([os.path.join(tmp, "server.bin")], [os.path.join(tmp, "client.bin")], env)
        run_pair([os.path.join(tmp, "server.bin")], [os.path.join(tmp, "zero_copy.bin")], env)


if __name__ == "__main__":
    {"java": java, "go": go}[sys.argv[1]](*sys.argv[2:])
    print("the README's example ran as written")
