-- Cancel every job waiting on one queue: its oldest ids are popped from the right and
-- each job ends cancelled (lib/finish.lua's cancel: kept, or deleted; its waiters told;
-- its unique name freed). An id whose job is gone, or has ended, is only dropped.
-- Bounded: at most ARGV[4] ids per call, and no more once ARGV[5] microseconds have
-- passed; the caller counts the ids taken, and stops once it has taken as many as the
-- queue held when it started (jobs pushed meanwhile are left alone).
-- KEYS[1] = the queue (<queue>:jobs)
-- KEYS[2] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = how long a job that ends cancelled is kept, ms (0: deleted at once)
-- ARGV[4] = the most ids to take in this call
-- ARGV[5] = the time budget, microseconds
-- Returns {ids taken (0: the queue is empty), jobs cancelled}.
-- qwsup:include fields
-- qwsup:include keys
-- qwsup:include finish
-- qwsup:include clock
local start_us = now_us()
local deadline = start_us + tonumber(ARGV[5])
local now = math.floor(start_us / 1000)
local keep = tonumber(ARGV[3])
local taken, cancelled = 0, 0
for _ = 1, tonumber(ARGV[4]) do
  local id = redis.call('RPOP', KEYS[1])
  if not id then
    break
  end
  taken = taken + 1
  local key = keys.job(id)
  if redis.call('TYPE', key)['ok'] == 'hash' then
    local state = redis.call('HGET', key, F.STATE)
    if state ~= 'done' and state ~= 'failed' and state ~= 'cancelled' then
      cancel(key, id, now, keep, KEYS[2])
      cancelled = cancelled + 1
    end
  end
  if past(deadline, taken) then
    break
  end
end
return {taken, cancelled}
