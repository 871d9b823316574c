-- A job's state (qwsup:state in its hash: queued, scheduled, running, done, failed,
-- cancelled) and its end: a job that ended is kept for a while or deleted, and whoever
-- waits for it is told.
-- qwsup:include keys

-- mark(key, state): the job (its hash `key`) is now `state`; nothing when the key is no
-- hash (a deleted job is not brought back as a hash of one field).
local function mark(key, state)
  if redis.call('TYPE', key)['ok'] == 'hash' then
    redis.call('HSET', key, 'qwsup:state', state)
  end
end

-- cancel_asked(key): whether the job (its hash `key`) was asked to stop while it was in
-- a worker's list (qwsup:cancel, set by cancel.lua): wherever it goes next, it ends
-- cancelled.
local function cancel_asked(key)
  return type(redis.pcall('HGET', key, 'qwsup:cancel')) == 'string'
end

-- tell_waiters(key, id, state): when someone waits for job `id` (its hash `key` has
-- qwsup:waited, set by wait.lua), its list ended:<id> gets the final `state`; waiters
-- block on that list (BLMOVE onto itself, so every waiter sees the one element), which
-- expires after ENDED_TTL_S.
local ENDED_TTL_S = 60
local function tell_waiters(key, id, state)
  if type(redis.pcall('HGET', key, 'qwsup:waited')) == 'string' then
    local list = keys.ended(id)
    redis.call('LPUSH', list, state)
    redis.call('EXPIRE', list, ENDED_TTL_S)
  end
end

-- close(key, id, state, now, keep_ms, finished): job `id` (its hash `key`) ended in
-- `state` (done, cancelled) at `now` (unix ms): its waiters are told, and it is kept
-- for `keep_ms` (its state and finished_at set, its id in `finished`, finished:jobs,
-- scored by when it is to go), or deleted at once when keep_ms is 0.
local function close(key, id, state, now, keep_ms, finished)
  tell_waiters(key, id, state)
  if keep_ms > 0 and redis.call('TYPE', key)['ok'] == 'hash' then
    redis.call('HSET', key, 'qwsup:state', state, 'qwsup:finished_at', now)
    redis.call('ZADD', finished, now + keep_ms, id)
  else
    redis.call('DEL', key)
  end
end
