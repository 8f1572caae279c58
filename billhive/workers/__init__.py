"""Per-tenant queues, the limit-aware scheduler, jobs and the worker process."""
