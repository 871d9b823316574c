-- Cancel a job: one waiting (queued, scheduled) never runs; one in a worker's list is
-- asked to stop; one that ended is left as it is.
-- Queued: its id leaves its queue (qwsup:queue, else all:jobs: LREM, scanning from the
-- newest end) and it ends cancelled (kept, or deleted). When the id is not on that
-- queue (a producer that pushed it elsewhere by hand; a worker's blocking wait moved it
-- into its list a moment ago), the job ends cancelled all the same and its hash is
-- kept, whatever keep_ms says, at least ARGV[4]: take.lua drops an id whose job is
-- cancelled, so it never runs wherever it is.
-- Scheduled: its id leaves delayed:jobs and it ends cancelled.
-- Running (in a worker's list: running, or taken along to run next): it gets
-- qwsup:cancel (unix ms, Redis clock), and "<worker>\t<id>" goes on the list of stop
-- requests of the worker's supervisor, <name>:cancels, which its master blocks on. From
-- then on every script that moves the job ends it cancelled (lib/finish.lua's finish
-- and cancel, put_back, giveback.lua, fail.lua, take.lua): whatever the handler does
-- next, the job ends cancelled, and never runs again.
-- Either way the job's waiters are told when it ends (lib/state.lua).
-- KEYS[1] = the job hash
-- KEYS[2] = all:jobs
-- KEYS[3] = delayed:jobs
-- KEYS[4] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the job id
-- ARGV[4] = how long a job that ends cancelled is kept, ms (0: deleted at once)
-- ARGV[5] = how long a cancelled job whose id was not found on its queue is kept, ms
-- Returns {what: 'cancelled' (it was waiting), 'stopping' (it is in a worker's list),
-- 'ended' (it had ended: nothing done), 'unknown' (no such job); its state before;
-- the worker it is in the list of (stopping)}.
-- qwsup:include fields
-- qwsup:include keys
-- qwsup:include finish
-- qwsup:include clock
local key, id = KEYS[1], ARGV[3]
if redis.call('TYPE', key)['ok'] ~= 'hash' then
  return {'unknown', '', ''}
end
local found = redis.call('HMGET', key, F.STATE, F.WORKER, F.FAILED_AT, F.QUEUE)
local state, worker = found[1] or 'queued', found[2] or ''
if found[3] and not found[1] then
  state = 'failed'  -- a job of an earlier version that failed for good
end
if state == 'done' or state == 'failed' or state == 'cancelled' then
  return {'ended', state, ''}
end
local now = now_ms()
local keep = tonumber(ARGV[4])
if state == 'running' then
  if not found[2] then
    return {'ended', state, ''}  -- (never: take.lua names the worker with the state)
  end
  redis.call('HSETNX', key, F.CANCEL, now)  -- (asked again: asked since the first)
  local name = string.match(worker, '^(.*)%.%d+$') or worker
  redis.call('LPUSH', keys.cancels(name), worker .. '\t' .. id)
  return {'stopping', state, worker}
end
if state == 'scheduled' then
  redis.call('ZREM', KEYS[3], id)
else
  local queue = KEYS[2]
  if found[4] and found[4] ~= '' then
    queue = keys.queue_jobs(found[4])
  end
  if redis.call('LREM', queue, 1, id) == 0 and redis.call('LREM', KEYS[2], 1, id) == 0 then
    keep = math.max(keep, tonumber(ARGV[5]))
  end
end
cancel(key, id, now, keep, KEYS[4])
return {'cancelled', state, ''}
