-- Move the jobs of a worker's own list back to the front of their queue, oldest taken
-- first, in the order they had. A worker that died mid-job costs each job it was
-- running (the oldest ARGV[9] in its list, its concurrency; the others were
-- prefetched and not started) one attempt: a job whose attempts are used up goes to
-- failed:jobs instead.
-- Only for the master that holds the supervisor's name (ARGV[8] is the token in its
-- record, '' when nobody holds it): a master that lost its name, or a worker of one,
-- must not touch lists whose ids now belong to the new holder's workers (containers
-- from one image have the same worker ids).
-- Bounded: at most ARGV[7] ids per call; call again while the third result is > 0.
-- KEYS[1] = the worker's own list
-- KEYS[2] = all:jobs: where a job goes back unless it names its queue (qwsup:queue)
-- KEYS[3] = failed:jobs
-- KEYS[4] = the supervisor's info hash (<name>:info)
-- KEYS[5] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or ""): job hashes and queues are built on it
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = attempts to charge the running job: 1 when the worker died, 0 when stopped
-- ARGV[4] = max attempts
-- ARGV[5] = the reason, recorded as the job's last error when an attempt is charged
-- ARGV[6] = now, unix seconds
-- ARGV[7] = the most ids to move in this call
-- ARGV[8] = the caller's token
-- ARGV[9] = how many jobs the worker ran at once (its pool's concurrency)
-- ARGV[10] = how long a job that ends cancelled is kept, ms (a job asked to stop ends
--           cancelled, uncharged: put_back)
-- Returns {ids requeued, ids failed for good, ids left in the worker's list, fenced: 1
-- when the token is not the name's (nothing moved), ids that ended cancelled}.
-- qwsup:include put_back
-- qwsup:include clock
if (redis.call('HGET', KEYS[4], 'token') or '') ~= ARGV[8] then
  return {0, 0, 0, 1, 0}
end
local cost = tonumber(ARGV[3])
local max_attempts = tonumber(ARGV[4])
local running = tonumber(ARGV[9])
local requeued, failed, cancelled = 0, 0, 0
local now = now_ms()
for _ = 1, tonumber(ARGV[7]) do
  local id = redis.call('LPOP', KEYS[1])  -- the newest first, so the oldest ends in front
  if not id then
    break
  end
  local went = put_back(
    KEYS[1], id, cost, max_attempts, ARGV[5], ARGV[6], KEYS[3], KEYS[2], running, now,
    tonumber(ARGV[10]), KEYS[5]
  )
  if went == 'failed' then
    failed = failed + 1
  elseif went == 'cancelled' then
    cancelled = cancelled + 1
  else
    requeued = requeued + 1
  end
end
return {requeued, failed, redis.call('LLEN', KEYS[1]), 0, cancelled}
