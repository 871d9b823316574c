-- Move the jobs of a worker's own list back to the front of their queue, oldest taken
-- first, in the order they had. A worker that died mid-job costs the job it was
-- running (the oldest in its list; the others were prefetched and not started) one
-- attempt: a job whose attempts are used up goes to failed:jobs instead.
-- Bounded: at most ARGV[6] ids per call; call again while the second result is > 0.
-- KEYS[1] = the worker's own list
-- KEYS[2] = all:jobs: where a job goes back unless it names its queue (qwsup:queue)
-- KEYS[3] = failed:jobs
-- ARGV[1] = the job hash prefix ("<namespace>job:"); hash keys are built from the ids
-- ARGV[2] = attempts to charge the running job: 1 when the worker died, 0 when stopped
-- ARGV[3] = max attempts
-- ARGV[4] = the reason, recorded as the job's last error when an attempt is charged
-- ARGV[5] = now, unix seconds
-- ARGV[6] = the most ids to move in this call
-- ARGV[7] = the key prefix ("<namespace>:" or "")
-- Returns {ids requeued, ids failed for good, ids left in the worker's list}.
-- qwsup:include unique
-- qwsup:include home
local cost = tonumber(ARGV[2])
local max_attempts = tonumber(ARGV[3])
local requeued, failed = 0, 0
for _ = 1, tonumber(ARGV[6]) do
  local id = redis.call('LPOP', KEYS[1])  -- the newest first, so the oldest ends in front
  if not id then
    break
  end
  local dead = false
  if cost > 0 and redis.call('LLEN', KEYS[1]) == 0 then  -- the oldest: the one running
    local key = ARGV[1] .. id
    if redis.call('TYPE', key)['ok'] == 'hash' then
      local attempts = redis.call('HINCRBY', key, 'qwsup:attempts', cost)
      redis.call('HSET', key, 'qwsup:last_error', ARGV[4], 'qwsup:traceback', '')
      if attempts >= max_attempts then
        release_unique(ARGV[7], key, id)
        redis.call('HSET', key, 'qwsup:failed_at', ARGV[5])
        dead = true
      end
    end
  end
  if dead then
    redis.call('LPUSH', KEYS[3], id)
    failed = failed + 1
  else
    redis.call('RPUSH', home(ARGV[7], ARGV[1] .. id, KEYS[2]), id)
    requeued = requeued + 1
  end
end
return {requeued, failed, redis.call('LLEN', KEYS[1])}
