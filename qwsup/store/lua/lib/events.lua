-- Job events: each step of a job is an entry of the capped stream all:events
-- (keys.events()), for dashboards, `qwsup events` and anyone who follows jobs. An
-- entry's id is its time (unix ms, Redis clock, then a sequence); its fields are
-- `event` (enqueued, started, progress, done, failed, retrying, cancelled), `id` (the
-- job's), `queue` (its queue's name: all, a named queue, a supervisor's), `worker`
-- (when one is involved), and what the event says more (error, attempt, progress,
-- message). The stream keeps about ARGV[2] entries: it is trimmed (XTRIM MAXLEN ~, by
-- whole nodes, so a little more stays) by every enqueue (enqueue.lua) and by every
-- master once a turn (prune.lua), not by each entry a worker writes, which would cost
-- each job twice as much; ARGV[2] = '0' writes none.
-- qwsup:include fields
-- qwsup:include keys
local events_max = tonumber(ARGV[2]) or 0

-- emit(event, id, queue, worker, ...): an event of job `id` on the queue named `queue`,
-- by `worker` ('' for none), with more field, value pairs.
local function emit(event, id, queue, worker, ...)
  if events_max > 0 then
    redis.call(
      'XADD', keys.events(), '*', 'event', event, 'id', id, 'queue', queue, 'worker', worker, ...
    )
  end
end

-- trim_events(): the stream cut to about its length (XTRIM MAXLEN ~), by every
-- enqueue's and every master's turn, not by every entry.
local function trim_events()
  if events_max > 0 then
    redis.call('XTRIM', keys.events(), 'MAXLEN', '~', events_max)
  end
end

-- emit_job(event, key, id, worker, ...): emit, the queue read from the job's hash `key`
-- (qwsup:queue, else all).
local function emit_job(event, key, id, worker, ...)
  if events_max > 0 then
    local queue = redis.pcall('HGET', key, F.QUEUE)
    if type(queue) ~= 'string' or queue == '' then
      queue = 'all'
    end
    emit(event, id, queue, worker, ...)
  end
end

-- worker_of(list): the worker id of a worker's own list (keys.worker_jobs(worker)).
local function worker_of(list)
  return string.sub(list, #ARGV[1] + 1, -6)
end
