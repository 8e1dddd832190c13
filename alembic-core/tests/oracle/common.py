"""Shared by the oracle scripts: how to run the real Alembic and our graph_oracle example on the
same input (see alembic_oracle.py and ../../examples/graph_oracle.rs for the notation)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.dirname(os.path.dirname(HERE))


def run_alembic(data, hash_seed="0"):
    """Alembic's answers. Python's set order changes some of Alembic's choices; a fixed hash seed
    keeps runs repeatable (hashcheck.py tries others)."""
    env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
    return subprocess.run([sys.executable, os.path.join(HERE, "alembic_oracle.py")], input=data,
                          capture_output=True, text=True, env=env, check=True).stdout


def run_ours(data):
    """Our answers: $GRAPH_ORACLE if set, else the example built by cargo."""
    binary = os.environ.get("GRAPH_ORACLE")
    cmd = [binary] if binary else ["cargo", "run", "-q", "--release", "--example", "graph_oracle"]
    return subprocess.run(cmd, input=data, capture_output=True, text=True, cwd=CORE, check=True).stdout
