"""Benchmarks of rocketjob (not tests): the job they run, measuring helpers, the peer adapter.

``bin/bench`` drives them; ``bench/peer/run.sh`` runs the shared peer harness with our
adapter. See ``docs/performance.md``.
"""
