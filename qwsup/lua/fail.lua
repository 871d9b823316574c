-- Record a failed attempt: one more attempt, the error on the job's hash, then the id
-- moves from the worker's own list to the back of the queue, or to failed:jobs when the
-- attempts are used up or the failure is permanent.
-- KEYS[1] = the worker's own list
-- KEYS[2] = the job hash
-- KEYS[3] = the queue to retry on (all:jobs)
-- KEYS[4] = failed:jobs
-- ARGV[1] = the job id
-- ARGV[2] = max attempts
-- ARGV[3] = the error, one line
-- ARGV[4] = the traceback
-- ARGV[5] = now, unix seconds
-- ARGV[6] = '1' for a permanent failure (never retried), else '0'
-- Returns -1 when this worker no longer owned the job, 0 when it failed for good,
-- else the number of attempts made so far (the job was requeued).
local kind = redis.call('TYPE', KEYS[2])['ok']
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  return -1
end
if kind ~= 'hash' and kind ~= 'none' then
  -- not ours to overwrite: the error is only logged
  redis.call('LPUSH', KEYS[4], ARGV[1])
  return 0
end
local attempts = redis.call('HINCRBY', KEYS[2], 'qwsup:attempts', 1)
redis.call('HSET', KEYS[2], 'qwsup:last_error', ARGV[3], 'qwsup:traceback', ARGV[4])
if ARGV[6] == '1' or attempts >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[2], 'qwsup:failed_at', ARGV[5])
  redis.call('LPUSH', KEYS[4], ARGV[1])
  return 0
end
redis.call('LPUSH', KEYS[3], ARGV[1])
return attempts
