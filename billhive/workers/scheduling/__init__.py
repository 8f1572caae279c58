"""Fair, limit-aware dispatch of per-tenant jobs (see docs/scheduling.md).

- :mod:`.dispatcher`: the Redis state and its atomic scripts (push, pop, release, pause).
- :mod:`.buckets`: how a job's Billbee limit buckets are stored.
- :mod:`.worker`: RQ workers that dequeue through the dispatcher.
- :mod:`.recovery`: requeueing jobs of dead workers, tidying tenant queues.
"""
