-- Finish a job: remove its id from the worker's own list and close it as done (kept a
-- while with its result, or its hash deleted: lib/state.lua), as one step.
-- Only the owner finishes: when the id is no longer in this worker's list (it was
-- requeued by someone else), nothing is changed.
-- A worker that goes on with a job it had prefetched (held) names it, and starts it
-- only once this reply says it may: a held job asked to stop (qwsup:cancel, set by
-- cancel.lua while it waited in the worker's list) leaves the list and ends cancelled
-- here, never started. One that may start gets qwsup:started_at (unix ms, Redis clock):
-- when it starts, not when take.lua took it along.
-- KEYS[1] = the worker's own list
-- KEYS[2] = the job hash
-- KEYS[3] = the hash of the job it starts next (when ARGV[4] is not empty)
-- KEYS[4] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the job id, or '' for none (only the next job's start is asked about)
-- ARGV[4] = the id of the job it starts next, or ''
-- ARGV[5] = how long a finished (or cancelled) job is kept, ms (0: deleted at once)
-- ARGV[6] = the type of its result (text, bytes, json), or '' for none
-- ARGV[7] = its result
-- ARGV[8..] = the job's writes (see lib/writes.lua), applied only when the job was
--             finished here: once, with its end
-- Returns 1 when the job was finished, 0 when this worker no longer owned it (it was
-- requeued: taken away), -1 when it did not own it because it had finished it already:
-- the hash is gone, or kept as done (or cancelled) by this worker (a worker resends its
-- acknowledgements when its connection broke before their replies). With writes, or a
-- next job named: {that number, 1 when the next job may start (0: it was cancelled,
-- and ended so), the writes that failed as apply_writes returns them...}.
-- qwsup:include fields
-- qwsup:include finish
-- qwsup:include clock
-- qwsup:include writes
local finished = 0
local now = now_ms()
local keep_ms = tonumber(ARGV[5])
local ended = ARGV[3] ~= '' and finish(KEYS[1], KEYS[2], ARGV[3], now, keep_ms, KEYS[4], ARGV[6], ARGV[7])
if ended then
  finished = 1
elseif ARGV[3] == '' then
  finished = 0  -- (no job finished: only the next one's start)
elseif redis.call('EXISTS', KEYS[2]) == 0 then
  finished = -1
else  -- kept: ended by this worker already, or taken away from it (requeued)?
  local f = redis.call('HMGET', KEYS[2], F.STATE, F.WORKER)
  if (f[1] == 'done' or f[1] == 'cancelled') and f[2] == worker_of(KEYS[1]) then
    finished = -1
  end
end
local starts = 1
if ARGV[4] ~= '' then
  local f = redis.pcall('HMGET', KEYS[3], F.STATE, F.CANCEL)
  if f['err'] then
    f = {}  -- no hash: the worker tells such a job's kind itself
  end
  if f[1] == 'cancelled' or f[2] then
    starts = 0
    if redis.call('LREM', KEYS[1], -1, ARGV[4]) == 1 and f[1] ~= 'cancelled' then
      cancel(KEYS[3], ARGV[4], now, keep_ms, KEYS[4])
    end
  elseif f[1] then
    redis.call('HSET', KEYS[3], F.STARTED_AT, now)
  end
end
if #ARGV > 7 or ARGV[4] ~= '' then
  local reply = {finished, starts}
  if ended == 'done' then  -- (a job cancelled meanwhile applies none)
    for _, item in ipairs(apply_writes(8)) do
      reply[#reply + 1] = item
    end
  end
  return reply
end
return finished
