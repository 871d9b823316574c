-- Reclaim the jobs of one dead supervisor: one in all:managers whose lease is over.
-- Every job in the lists of its workers goes back to the front of its queue; the job
-- each worker was running (the oldest in its list; the others were prefetched) with
-- one more attempt (to failed:jobs when the attempts are used up); then the supervisor is
-- removed from the registry. Its host queue <name>:jobs is left for when it returns.
-- Atomic: when several masters run it, exactly one moves each job.
-- Bounded: at most ARGV[4] ids per call; call again while the last result is 0.
-- A supervisor in all:managers without a lease (it never heartbeated) gets one that
-- starts now, so it is reclaimed only if it stays silent for a whole lease.
-- ARGV[6], when not empty, names a supervisor to reclaim whatever its lease says
-- (`qwsup requeue-orphans NAME`, for an operator who knows that host is gone).
-- Worker list and job hash keys are built from the names in the sets; with Redis
-- Cluster a hash tag in the namespace keeps them in one slot.
-- KEYS[1] = all:leases
-- KEYS[2] = all:managers
-- KEYS[3] = all:jobs: where a job goes back unless it names its queue (qwsup:queue)
-- KEYS[4] = failed:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the calling supervisor's name (never reclaimed by itself)
-- ARGV[3] = max attempts
-- ARGV[4] = the most ids to move in this call
-- ARGV[5] = the lease, milliseconds
-- ARGV[6] = a supervisor to reclaim now, or ''
-- Returns {} when no supervisor is dead, else {name, ids requeued, ids failed, done},
-- done being 1 once the supervisor is wholly reclaimed.
-- qwsup:include unique
-- qwsup:include home
-- qwsup:include put_back
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local dead = nil
if ARGV[6] ~= '' then
  dead = ARGV[6]
end
for _, name in ipairs(dead and {} or redis.call('SMEMBERS', KEYS[2])) do
  if name ~= ARGV[2] then
    local lease = redis.call('ZSCORE', KEYS[1], name)
    if not lease then
      redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[5]), name)
    elseif tonumber(lease) < now_ms then
      dead = name
      break
    end
  end
end
if not dead then
  return {}
end
local max_attempts = tonumber(ARGV[3])
local failed_at = string.format('%.3f', now_ms / 1000)
local budget = tonumber(ARGV[4])
local reason = 'supervisor ' .. dead .. ' stopped heartbeating; its job was reclaimed by ' .. ARGV[2]
local workers = ARGV[1] .. dead .. ':workers'
local requeued, failed = 0, 0
for _, worker in ipairs(redis.call('SMEMBERS', workers)) do
  local list = ARGV[1] .. worker .. ':jobs'
  while budget > 0 do
    local id = redis.call('LPOP', list)
    if not id then
      break
    end
    budget = budget - 1
    if put_back(ARGV[1], list, id, 1, max_attempts, reason, failed_at, KEYS[4], KEYS[3]) then
      failed = failed + 1
    else
      requeued = requeued + 1
    end
  end
  if budget == 0 then
    return {dead, requeued, failed, 0}
  end
  redis.call('SREM', workers, worker)
end
redis.call('ZREM', KEYS[1], dead)
redis.call('SREM', KEYS[2], dead)
redis.call('DEL', ARGV[1] .. dead .. ':info')
return {dead, requeued, failed, 1}
