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
