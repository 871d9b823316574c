-- keys: the names of the keys a script builds itself (the jobs it finds in lists, the
-- records and lists of other supervisors), from the key prefix every script gets as
-- ARGV[1] ("<namespace>:" or ""). The same names as qwsup/store/keys.py, builder for builder
-- (tests/test_lua_keys.py checks each); every other key arrives in KEYS.
local keys = {}
local prefix = ARGV[1]

function keys.job(id)  -- job:<id>, the job's hash
  return prefix .. 'job:' .. id
end

function keys.queue_jobs(name)  -- <name>:jobs: a supervisor's own queue, or a named one
  return prefix .. name .. ':jobs'
end

function keys.queue_name(key)  -- queue_jobs(name) back into name
  return string.sub(key, #prefix + 1, -6)
end

function keys.worker_jobs(worker)  -- <name>.<pid>:jobs, a worker's own list
  return prefix .. worker .. ':jobs'
end

function keys.workers(name)  -- <name>:workers, a supervisor's worker set
  return prefix .. name .. ':workers'
end

function keys.info(name)  -- <name>:info, a supervisor's record
  return prefix .. name .. ':info'
end

function keys.unique(name)  -- unique:<name>, held by the id of the job with that name
  return prefix .. 'unique:' .. name
end

function keys.ended(id)  -- ended:<id>, where a job's waiters are told its end
  return prefix .. 'ended:' .. id
end

function keys.cancels(name)  -- <name>:cancels, the stop requests for a supervisor's workers
  return prefix .. name .. ':cancels'
end

function keys.events()  -- all:events, the stream of job events (lib/events.lua)
  return prefix .. 'all:events'
end

function keys.paused()  -- all:paused, the names of the paused queues
  return prefix .. 'all:paused'
end

function keys.started(name)  -- <queue>:started, a rate-limited queue's take times
  return prefix .. name .. ':started'
end

function keys.running(name)  -- <queue>:running, the ids counted against its concurrency limit
  return prefix .. name .. ':running'
end
