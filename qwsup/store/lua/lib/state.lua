-- A job's state (qwsup:state in its hash: queued, scheduled, running, done, failed,
-- cancelled) and its end: a job that ended is kept for a while or deleted, and whoever
-- waits for it is told.
-- qwsup:include fields
-- qwsup:include keys

-- mark(key, state): the job (its hash `key`) is now `state`; nothing when the key is no
-- hash (a deleted job is not brought back as a hash of one field).
local function mark(key, state)
  if redis.call('TYPE', key)['ok'] == 'hash' then
    redis.call('HSET', key, F.STATE, state)
  end
end

-- cancel_asked(key): whether the job (its hash `key`) was asked to stop while it was in
-- a worker's list (qwsup:cancel, set by cancel.lua): wherever it goes next, it ends
-- cancelled.
local function cancel_asked(key)
  return type(redis.pcall('HGET', key, F.CANCEL)) == 'string'
end

-- look(key): what ending a job needs of its hash, in one read: {unique, cancel, waited,
-- queue, capped} (its fields qwsup:unique, qwsup:cancel, qwsup:waited, qwsup:queue, 'all'
-- when absent, and qwsup:capped), or nil when the key is no job's hash: another type, or
-- gone. A hash without qwsup:state is a job all the same, queued (a plain producer's:
-- HSET and LPUSH); the key is looked up only then (a job a worker took always has its
-- state: no second command on the worker's path).
local function look(key)
  local f = redis.pcall(
    'HMGET', key, F.STATE, F.UNIQUE, F.CANCEL, F.WAITED, F.QUEUE,
    F.CAPPED
  )
  if f['err'] or (not f[1] and redis.call('EXISTS', key) == 0) then
    return nil
  end
  return {unique = f[2], cancel = f[3], waited = f[4], queue = f[5] or 'all', capped = f[6]}
end

-- tell_waiters(id, state): someone waits for job `id` (its hash had qwsup:waited, set by
-- wait.lua): its list ended:<id> gets the final `state`; waiters block on that list
-- (BLMOVE onto itself, so every waiter sees the one element), which expires after
-- ENDED_TTL_S.
local ENDED_TTL_S = 60
local function tell_waiters(id, state)
  local list = keys.ended(id)
  redis.call('LPUSH', list, state)
  redis.call('EXPIRE', list, ENDED_TTL_S)
end

-- close(key, id, state, now, keep_ms, finished, seen, ...): job `id` (its hash `key`,
-- `seen` what look() found of it) ended in `state` (done, cancelled) at `now` (unix ms):
-- its waiters are told, and it is kept for `keep_ms` (its state, finished_at and the
-- field, value pairs `...` set; its id in `finished`, finished:jobs, scored by when it
-- is to go), or deleted at once when keep_ms is 0 (or it is no job's hash).
local function close(key, id, state, now, keep_ms, finished, seen, ...)
  if seen and seen.waited then
    tell_waiters(id, state)
  end
  if keep_ms > 0 and seen then
    redis.call('HSET', key, F.STATE, state, F.FINISHED_AT, now, ...)
    redis.call('ZADD', finished, now + keep_ms, id)
  else
    redis.call('DEL', key)
  end
end
