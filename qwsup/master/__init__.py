"""The master: the process that forks the workers and keeps them alive.

- loop: `Master`, its loop of fixed steps and what each signal does.
- actions: what the policies decide and only the loop carries out.
- pool: the workers' slots, generations and what follows a worker's death (pure).
- deadlines: who is overdue (pure). backoff: when to start a worker again (pure).
- looks: which idle workers are asked to look at every queue (pure).
- leases, identity: who holds a supervisor's name and when another master is dead (pure).
- cron: each `[[cron]]` tick claimed once across the masters.
- cancels: stop requests for running jobs, and how long a worker gets to stop one.
- holding: the hold on the supervisor's name and the watch over the others.
- lists: the lists of the workers gone, moved back to the queues.
- children: fork, signal, reap (the effects on the children).
- wakeups: what the loop waits on. timers: periodic duties on the monotonic clock.
- totals, tally: the counters, the status line and the state the metrics are made from.
"""
