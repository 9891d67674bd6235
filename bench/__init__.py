"""hackbot's benchmarks: the real bot, in its own process, against the sandbox Discord.

``python -m bench --help`` lists them; see bench/harness.py for how one is written.
"""
