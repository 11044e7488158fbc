"""python -m tirflow_py.trainer: the trainer process (protocol on stdin/stdout, logs on stderr)."""

from .server import main

main()
