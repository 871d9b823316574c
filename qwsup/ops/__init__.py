"""What operators look at and do, for the CLI and the dashboard to present.

- admin: the state of the queues and supervisors, the failed jobs, and the actions on them.
- report: `qwsup status` and `qwsup failed` rendered for people and for scripts.
- metrics: the Prometheus metrics the master serves.
"""
