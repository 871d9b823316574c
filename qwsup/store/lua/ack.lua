-- Finish a job: remove its id from the worker's own list and close it as done (kept a
-- while with its result, or its hash deleted: lib/state.lua), as one step.
-- Only the owner finishes: when the id is no longer in this worker's list (it was
-- requeued by someone else), nothing is changed.
-- A worker that goes on with a job it had prefetched names it: its hash gets
-- qwsup:started_at (unix ms, Redis clock), as take.lua stamps the jobs it takes.
-- KEYS[1] = the worker's own list
-- KEYS[2] = the job hash
-- KEYS[3] = the hash of the job it starts next (when ARGV[4] is not empty)
-- KEYS[4] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the job id
-- ARGV[4] = the id of the job it starts next, or ''
-- ARGV[5] = how long a finished job is kept, ms (0: deleted at once)
-- ARGV[6] = the type of its result (text, bytes, json), or '' for none
-- ARGV[7] = its result
-- ARGV[8..] = the job's writes (see lib/writes.lua), applied only when the job was
--             finished here: once, with its end
-- Returns 1 when the job was finished, 0 when this worker no longer owned it (it was
-- requeued: taken away), -1 when it did not own it because it had finished it already:
-- the hash is gone, or kept as done (or cancelled) by this worker (a worker resends its
-- acknowledgements when its connection broke before their replies). With writes,
-- {that number, the writes that failed as apply_writes returns them...}.
-- qwsup:include fields
-- qwsup:include finish
-- qwsup:include clock
-- qwsup:include writes
local finished = 0
local now = now_ms()
local ended = finish(KEYS[1], KEYS[2], ARGV[3], now, tonumber(ARGV[5]), KEYS[4], ARGV[6], ARGV[7])
if ended then
  finished = 1
elseif redis.call('EXISTS', KEYS[2]) == 0 then
  finished = -1
else  -- kept: ended by this worker already, or taken away from it (requeued)?
  local f = redis.call('HMGET', KEYS[2], F.STATE, F.WORKER)
  if (f[1] == 'done' or f[1] == 'cancelled') and f[2] == worker_of(KEYS[1]) then
    finished = -1
  end
end
if ARGV[4] ~= '' and redis.call('TYPE', KEYS[3])['ok'] == 'hash' then
  redis.call('HSET', KEYS[3], F.STARTED_AT, now)
end
if #ARGV > 7 then
  local reply = {finished}
  if ended == 'done' then  -- (a job cancelled meanwhile applies none)
    for _, item in ipairs(apply_writes(8)) do
      reply[#reply + 1] = item
    end
  end
  return reply
end
return finished
