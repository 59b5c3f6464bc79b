# Home Assistant 2026.10 validates with probatio: its package __init__ makes
# `import voluptuous` load probatio's voluptuous shim, which re-exports
# probatio's own classes, and Home Assistant's helpers are typed with them.
# scripts/test puts this folder on MYPYPATH when the lane has probatio, so mypy
# sees the voluptuous that runs.
from probatio import *  # noqa: F403
