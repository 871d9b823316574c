-- Reclaim the jobs of one dead supervisor. Who is dead is decided by the caller: a
-- master that watched the supervisor's record not change for a whole lease on its own
-- clock (see docs/protocol.md), or an operator who names it. Every job in the lists
-- of its workers goes back to the front of its queue; the jobs each worker was running
-- (the oldest in its list, as many as its pool's concurrency, which the record's pools
-- name, 1 for a worker they do not name; the others were prefetched) with one more
-- attempt (to failed:jobs when the attempts are used up); then the supervisor is
-- removed from the registry. Its own queue <name>:jobs is left for when it returns.
-- The first call checks that the record still shows what the watcher saw (ARGV[7]),
-- then replaces the record by one without a token (who reclaims it, since when, and
-- its pools, for the concurrency of its workers): from
-- then on the supervisor's workers take nothing (take.lua checks its token) and its
-- master, should it come back, finds it was reclaimed. That record takes the next
-- number of the heartbeats' order (lib/sequence.lua), so that the watchers watch it
-- afresh. The supervisor stays registered
-- until the last call, so that a reclaim cut short (the reclaimer died, Redis went
-- away) is found again: the token-less record does not change, and after a lease a
-- master reclaims it again. A call that goes on (ARGV[8] = '0') stops when the
-- supervisor has claimed its name again meanwhile: what is left in its lists is its
-- own again.
-- Atomic: when several masters run it, exactly one moves each job.
-- Bounded: at most ARGV[5] ids and workers looked at per call; call again (ARGV[8] = '0')
-- while the last result is 0.
-- Its record, worker set, worker lists and job hash keys are built from the names in
-- the sets (lib/keys.lua); with Redis Cluster a hash tag in the namespace keeps them in
-- one slot.
-- KEYS[1] = all:leases
-- KEYS[2] = all:managers
-- KEYS[3] = all:jobs: where a job goes back unless it names its queue (qwsup:queue)
-- KEYS[4] = failed:jobs
-- KEYS[5] = all:beats (see lib/sequence.lua)
-- KEYS[6] = all:beat_seq
-- KEYS[7] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the calling supervisor's name ('' for an operator), for the jobs' last error
-- ARGV[4] = max attempts
-- ARGV[5] = the most ids to move in this call
-- ARGV[6] = the supervisor to reclaim
-- ARGV[7] = what its record showed the watcher (see lib/beat.lua), or '' to reclaim it
--           whatever it shows (an operator's `qwsup requeue-orphans NAME`)
-- ARGV[8] = '1' for the first call, '0' for one that goes on
-- ARGV[9] = how long a job that ends cancelled is kept, ms (a job asked to stop, found
--           in a list, ends cancelled: put_back)
-- Returns {} when the supervisor is not to be reclaimed (it beat after all, or it came
-- back), else {ids requeued, ids failed, done}, done being 1 once it is wholly reclaimed.
-- qwsup:include keys
-- qwsup:include put_back
-- qwsup:include beat
-- qwsup:include clock
-- qwsup:include sequence
local dead = ARGV[6]
local info = keys.info(dead)
local now = now_ms()
if ARGV[8] == '1' then
  if ARGV[7] ~= '' and beat(info) ~= ARGV[7] then
    return {}
  end
  local pools = redis.call('HGET', info, 'pools') or ''
  redis.call('DEL', info)
  redis.call('HSET', info, 'reclaimed_by', ARGV[3], 'reclaimed_ms', now, 'pools', pools)
  next_beat(KEYS[5], KEYS[6], info, dead)
elseif redis.pcall('HGET', info, 'token') then
  return {}  -- it took its name again
end
local max_attempts = tonumber(ARGV[4])
local failed_at = seconds(now)
local budget = tonumber(ARGV[5])
local by = ARGV[3] ~= '' and ('by ' .. ARGV[3]) or 'by an operator'
local reason = 'supervisor ' .. dead .. ' stopped heartbeating; its job was reclaimed ' .. by
local workers = keys.workers(dead)
local concurrency = {}  -- worker id -> how many jobs it ran at once
local ok, decoded = pcall(cjson.decode, redis.call('HGET', info, 'pools') or '')
if ok and type(decoded) == 'table' then
  for _, pool in ipairs(decoded) do
    if type(pool) == 'table' and type(pool.workers) == 'table' then
      for _, worker in ipairs(pool.workers) do
        concurrency[worker] = tonumber(pool.concurrency) or 1
      end
    end
  end
end
local requeued, failed = 0, 0
while budget > 0 do
  local worker = redis.call('SRANDMEMBER', workers)  -- one at a time: the set may be huge
  if not worker then
    redis.call('DEL', info)
    redis.call('ZREM', KEYS[1], dead)
    redis.call('SREM', KEYS[2], dead)
    redis.call('ZREM', KEYS[5], dead)
    return {requeued, failed, 1}
  end
  budget = budget - 1  -- a worker looked at counts, even one whose list is empty
  local list = keys.worker_jobs(worker)
  while budget > 0 do
    local id = redis.call('LPOP', list)
    if not id then
      redis.call('SREM', workers, worker)
      break
    end
    budget = budget - 1
    local running = concurrency[worker] or 1
    local went = put_back(
      list, id, 1, max_attempts, reason, failed_at, KEYS[4], KEYS[3], running, now,
      tonumber(ARGV[9]), KEYS[7]
    )
    if went == 'failed' then
      failed = failed + 1
    elseif not went then
      requeued = requeued + 1
    end
  end
end
return {requeued, failed, 0}
