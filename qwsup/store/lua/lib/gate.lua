-- gate: what holds a queue back from take.lua (qwsup/limits.py): a pause (its name in
-- all:paused), a rate limit (at most `rate` takes in any window of `window_ms`: the log
-- <queue>:started of take times, Redis clock), a concurrency limit (at most `cap` of its
-- jobs in workers' lists: the set <queue>:running, lib/slot). A queue that holds jobs
-- back tells the worker how long it should wait before it looks again (gate.held_ms).
-- qwsup:include fields
-- qwsup:include keys
-- qwsup:include slot
local gate = {paused = {}, limits = {}, held_ms = 0, left = {}, starts = 1}
local CAP_RETRY_MS = 250  -- limits.CAP_RETRY_MS
local PAUSE_RETRY_MS = 1000  -- limits.PAUSE_RETRY_MS

-- gate.load(from): the paused queues, and, when ARGV[from] is given, how many jobs of
-- the take start at once (the most a limited queue gives one take), then the limits
-- given as ARGV[from + 1..]: per limited queue its name, rate (0: none), window in ms
-- and cap (0: none).
function gate.load(from)
  for _, name in ipairs(redis.call('SMEMBERS', keys.paused())) do
    gate.paused[name] = true
  end
  gate.starts = math.max(1, tonumber(ARGV[from]) or 1)
  for i = from + 1, #ARGV, 4 do
    gate.limits[ARGV[i]] = {
      rate = tonumber(ARGV[i + 1]), window = tonumber(ARGV[i + 2]), cap = tonumber(ARGV[i + 3])
    }
  end
end

-- gate.hold(queue, ms): jobs of `queue` are held back for about `ms` (when it has any).
local function hold(queue, ms)
  if redis.call('LLEN', keys.queue_jobs(queue)) > 0 then
    if gate.held_ms == 0 or ms < gate.held_ms then
      gate.held_ms = ms
    end
  end
end

-- audit(running): the size of set `running` once the ids that no longer hold a slot
-- (their hash gone, or no longer running: a path that missed lib/slot) are dropped.
local function audit(running)
  for _, id in ipairs(redis.call('SMEMBERS', running)) do
    local state = redis.pcall('HGET', keys.job(id), F.STATE)
    if state ~= 'running' then
      redis.call('SREM', running, id)
    end
  end
  return redis.call('SCARD', running)
end

-- gate.room(queue, now): how many jobs one take may take from `queue` now (-1: no
-- limit; else what its limits have room for, at most gate.starts; 0: none); when none,
-- the queue holds its jobs back and gate.held_ms says for how long.
function gate.room(queue, now)
  if gate.paused[queue] then
    hold(queue, PAUSE_RETRY_MS)
    return 0
  end
  local limit = gate.limits[queue]
  if not limit then
    return -1
  end
  local room = gate.starts
  if limit.rate > 0 then
    local log = keys.started(queue)
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - limit.window)
    -- takes logged later than now: the Redis clock stepped back; they count from now
    -- (else the queue would wait that long for them to leave the window)
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', log, '(' .. now, '+inf')) do
      redis.call('ZADD', log, now, member)
    end
    local started = redis.call('ZCARD', log)
    if started >= limit.rate then
      local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
      hold(queue, tonumber(oldest[2]) + limit.window - now)
      return 0
    end
    room = math.min(room, limit.rate - started)
  end
  if limit.cap > 0 then
    local running = keys.running(queue)
    local busy = redis.call('SCARD', running)
    if busy >= limit.cap then
      busy = audit(running)
    end
    if busy >= limit.cap then
      hold(queue, CAP_RETRY_MS)
      return 0
    end
    room = math.min(room, limit.cap - busy)
  end
  -- a slot, or a place in the window, is never held by a prefetched job that waits:
  -- a take gives no more of a limited queue's jobs than start at once
  return room
end

-- gate.may(queue, now): whether one more job may be taken from `queue` in this take
-- (counting those this take has taken from it already).
function gate.may(queue, now)
  local left = gate.left[queue]
  if left == nil then
    left = gate.room(queue, now)
  end
  if left > 0 then
    gate.left[queue] = left - 1
  else
    gate.left[queue] = left
  end
  return left ~= 0
end

-- gate.admit(queue, key, id, now): job `id` (its hash `key`) is taken from `queue`: it
-- counts against the queue's limits.
function gate.admit(queue, key, id, now)
  local limit = gate.limits[queue]
  if not limit then
    return
  end
  if limit.rate > 0 then
    local log = keys.started(queue)
    redis.call('ZADD', log, now, now .. ':' .. id)
    redis.call('PEXPIRE', log, limit.window + 1000)
  end
  if limit.cap > 0 then
    redis.call('SADD', keys.running(queue), id)
    redis.call('HSET', key, F.CAPPED, queue)
  end
end
