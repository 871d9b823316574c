-- Record a failed attempt: one more attempt and the error on the job's hash; then the
-- id moves from the worker's own list to delayed:jobs (due after the retry delay), or
-- to the back of the queue when there is no delay, or to failed:jobs when the attempts
-- are used up or the failure is permanent.
-- KEYS[1] = the worker's own list
-- KEYS[2] = the job hash
-- KEYS[3] = all:jobs, where a retry goes unless the job names its queue (qwsup:queue)
-- KEYS[4] = failed:jobs
-- KEYS[5] = delayed:jobs
-- ARGV[1] = the job id
-- ARGV[2] = max attempts
-- ARGV[3] = the error, one line
-- ARGV[4] = the traceback
-- ARGV[5] = '1' for a permanent failure (never retried), else '0'
-- ARGV[6] = retry delay after the first failed attempt, milliseconds
-- ARGV[7] = factor the delay grows by with each further failed attempt
-- ARGV[8] = the longest retry delay, milliseconds
-- ARGV[9] = the key prefix ("<namespace>:" or "")
-- Returns -1 when this worker no longer owned the job, 0 when it failed for good,
-- else the number of attempts made so far (the job will be retried).
-- qwsup:include unique
local kind = redis.call('TYPE', KEYS[2])['ok']
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  return -1
end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if kind ~= 'hash' and kind ~= 'none' then
  -- not ours to overwrite: the error is only logged
  redis.call('LPUSH', KEYS[4], ARGV[1])
  return 0
end
local attempts = redis.call('HINCRBY', KEYS[2], 'qwsup:attempts', 1)
redis.call('HSET', KEYS[2], 'qwsup:last_error', ARGV[3], 'qwsup:traceback', ARGV[4])
if ARGV[5] == '1' or attempts >= tonumber(ARGV[2]) then
  release_unique(ARGV[9], KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[2], 'qwsup:failed_at', string.format('%.3f', now_ms / 1000))
  redis.call('LPUSH', KEYS[4], ARGV[1])
  return 0
end
local delay_ms = tonumber(ARGV[6]) * tonumber(ARGV[7]) ^ (attempts - 1)
if delay_ms > tonumber(ARGV[8]) then
  delay_ms = tonumber(ARGV[8])
end
if delay_ms >= 1 then
  redis.call('ZADD', KEYS[5], now_ms + math.floor(delay_ms), ARGV[1])
else  -- its own queue (as promote.lua picks it), else all:jobs
  local queue = KEYS[3]
  local name = redis.call('HGET', KEYS[2], 'qwsup:queue')
  if name and name ~= '' then
    queue = ARGV[9] .. name .. ':jobs'
  end
  redis.call('LPUSH', queue, ARGV[1])
end
return attempts
