-- Job events: each step of a job is an entry of the capped stream all:events
-- (keys.events()), for dashboards, `qwsup events` and anyone who follows jobs. An
-- entry's id is its time (unix ms, Redis clock, then a sequence); its fields are
-- `event` (enqueued, started, progress, done, failed, retrying, cancelled), `id` (the
-- job's), `queue` (its queue's name: all, a named queue, a supervisor's), `worker`
-- (when one is involved), and what the event says more (error, attempt, progress,
-- message). The stream keeps about ARGV[2] entries (XADD MAXLEN ~: trimmed by whole
-- nodes, so a little more); ARGV[2] = '0' writes none.
-- qwsup:include keys
local events_max = tonumber(ARGV[2]) or 0

-- emit(event, key, id, worker, ...): an event of job `id` (its hash `key`, whose
-- qwsup:queue names its queue), by `worker` ('' for none), with more field, value pairs.
local function emit(event, key, id, worker, ...)
  if events_max <= 0 then
    return
  end
  local queue = redis.pcall('HGET', key, 'qwsup:queue')
  if type(queue) ~= 'string' or queue == '' then
    queue = 'all'
  end
  redis.call(
    'XADD', keys.events(), 'MAXLEN', '~', events_max, '*', 'event', event, 'id', id,
    'queue', queue, 'worker', worker, ...
  )
end

-- worker_of(list): the worker id of a worker's own list (keys.worker_jobs(worker)).
local function worker_of(list)
  return string.sub(list, #ARGV[1] + 1, -6)
end
