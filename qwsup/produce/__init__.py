"""Putting jobs in: the Python API for producers.

- producer: `Producer` (enqueue, enqueue later, unique jobs, bulk, wait for a result).
- tasks: `Tasks`, a registry of functions each enqueued and run as a task.
"""
