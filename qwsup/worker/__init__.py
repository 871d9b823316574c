"""A worker: what one forked child does from boot to exit.

- loop: `Worker`, its boot and the one-job-at-a-time loop.
- slots: several jobs at once in one worker (threads, or tasks on one asyncio loop).
- runner: running a handler on one job (its time limit, what the run ended in).
- prefetch: how many jobs a take asks for, how long it blocks (pure).
- heartbeat: the heartbeat thread and the state it shares with the main thread.
- current: what a handler can ask while it runs a job (`qwsup.redis`, `qwsup.pipeline`).
- progress: a handler's progress, sent by a thread of the worker's own.
"""
