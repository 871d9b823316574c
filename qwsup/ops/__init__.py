"""What operators look at and do, for the CLI and the dashboard to present. Nothing here
talks to Redis: every read and write is a method of the store's Operator.

- console: what the commands and the dashboard work through, built once from the config.
- views: the snapshot `status` and the overview show, the cron schedules, the failed
  jobs, a job, the events.
- pages: what each page of the dashboard shows, paged and bounded.
- actions: retry, purge, cancel, pause, resume, requeue, scale; each returns its Outcome.
- report: `status`, `failed`, `job`, `cron` and `events` rendered for people and scripts.
- rates: jobs finished per second, per queue, from the events (pure), and their chart.
- metrics: the Prometheus metrics the master serves.
"""
