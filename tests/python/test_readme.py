"""The README's Python example runs as written."""
import os
import re
import subprocess
import sys

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_example_runs(tmp_path):
    text = open(README).read()
    section = text[text.index("## Using it from Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    script = tmp_path / "example.py"
    script.write_text(code)
    env = dict(os.environ, SMIPC_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "client got b'HELLO'"


def test_readme_harness_fixture_runs(tmp_path, request):
    """The pytest plugin's harness example (a server in a child process) passes as written."""
    text = open(README).read()
    section = text[text.index("### pytest plugin"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "smipc_serve" in code
    (tmp_path / "test_readme_harness.py").write_text(code)
    loaded = request.config.pluginmanager.get_plugin("smipc") is not None
    args = [] if loaded else ["-p", "smipc.pytest_plugin"]  # as this run got it
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *args, str(tmp_path / "test_readme_harness.py")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout, out.stdout
