-- Record a failed attempt: one more attempt and the error on the job's hash; then the
-- id moves from the worker's own list to delayed:jobs (due after the retry delay), or
-- to the back of the queue when there is no delay, or to failed:jobs when the attempts
-- are used up or the failure is permanent.
-- KEYS[1] = the worker's own list
-- KEYS[2] = the job hash
-- KEYS[3] = all:jobs, where a retry goes unless the job names its queue (qwsup:queue)
-- KEYS[4] = failed:jobs
-- KEYS[5] = delayed:jobs
-- KEYS[6] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the job id
-- ARGV[4] = max attempts
-- ARGV[5] = the error, one line
-- ARGV[6] = the traceback
-- ARGV[7] = '1' for a permanent failure (never retried), else '0'
-- ARGV[8] = retry delay after the first failed attempt, milliseconds
-- ARGV[9] = factor the delay grows by with each further failed attempt
-- ARGV[10] = the longest retry delay, milliseconds
-- ARGV[11] = how long a job that ends cancelled is kept, ms (0: deleted at once)
-- A job asked to stop (cancel.lua) ends cancelled instead, whatever the failure: no
-- attempt charged, no retry, not in failed:jobs.
-- Returns -1 when this worker no longer owned the job, 0 when it failed for good, -2
-- when it ended cancelled, else the number of attempts made so far (it will be retried).
-- qwsup:include fields
-- qwsup:include keys
-- qwsup:include finish
-- qwsup:include clock
local id = ARGV[3]
local kind = redis.call('TYPE', KEYS[2])['ok']
if redis.call('LREM', KEYS[1], -1, id) == 0 then
  return -1
end
release_slot(KEYS[2], id)
local now = now_ms()
if kind == 'hash' and cancel_asked(KEYS[2]) then
  cancel(KEYS[2], id, now, tonumber(ARGV[11]), KEYS[6])
  return -2
end
if kind ~= 'hash' and kind ~= 'none' then
  -- not ours to overwrite: the error is only logged
  redis.call('LPUSH', KEYS[4], id)
  return 0
end
local attempts = redis.call('HINCRBY', KEYS[2], F.ATTEMPTS, 1)
redis.call('HSET', KEYS[2], F.LAST_ERROR, ARGV[5], F.TRACEBACK, ARGV[6])
-- (its state: failed by fail_for_good, else scheduled or queued below)
if ARGV[7] == '1' or attempts >= tonumber(ARGV[4]) then
  fail_for_good(KEYS[2], id, seconds(now), KEYS[4])
  return 0
end
local delay_ms = tonumber(ARGV[8]) * tonumber(ARGV[9]) ^ (attempts - 1)
if delay_ms > tonumber(ARGV[10]) then
  delay_ms = tonumber(ARGV[10])
end
emit_job('retrying', KEYS[2], id, worker_of(KEYS[1]), 'attempt', attempts, 'error', ARGV[5])
if delay_ms >= 1 then
  redis.call('HSET', KEYS[2], F.STATE, 'scheduled')
  redis.call('ZADD', KEYS[5], now + math.floor(delay_ms), id)
else  -- its own queue (as promote.lua picks it), else all:jobs
  local queue = KEYS[3]
  local name = redis.call('HGET', KEYS[2], F.QUEUE)
  if name and name ~= '' then
    queue = keys.queue_jobs(name)
  end
  redis.call('HSET', KEYS[2], F.STATE, 'queued')
  redis.call('LPUSH', queue, id)
end
return attempts
