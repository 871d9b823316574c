"""The web dashboard, `qwsup -c FILE web`: what shares the Redis (queues, supervisors,
workers, failed, scheduled and cron jobs, each job), live, and the operators' actions.

    auth.py    who may act: the token, the login's sessions, the forms' CSRF tokens
    app.py     the pages and actions (Starlette), the live updates (server-sent events)
    forms.py   what a page reads of a request; where an action's redirect goes back to
    render.py  the templates' environment and filters (times, counts, the rates' chart)
    serve.py   the listening socket, the refusal to expose a dashboard without a token

What a page shows and what an action does are ops/'s (pages.py, views.py, actions.py):
the dashboard reads Redis only through them.
"""
