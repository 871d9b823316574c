"""The web dashboard, `qwsup -c FILE web`: what shares the Redis (queues, supervisors,
workers, failed, scheduled and cron jobs, each job), live, and the operators' actions.

    auth.py    who may act: the token, the login's sessions, the forms' CSRF tokens
    rates.py   jobs/s per queue from the events stream, and its chart (pure)
    reads.py   what each page shows, read from Redis in bounded, paged queries
    app.py     the pages and actions (Starlette), the live updates (server-sent events)
    serve.py   the listening socket, the refusal to expose a dashboard without a token
"""
