-- Remove the finished jobs kept long enough (done or cancelled, kept `keep_finished`
-- seconds: finished:jobs scores each with when it is to go), and the oldest beyond the
-- most to keep (`keep_finished_max`): each one's hash and its id in finished:jobs, in
-- one step. A hash that is no longer a finished job's (its id was enqueued again by a
-- producer that does not use enqueue.lua) is left alone; only its entry goes.
-- Bounded: at most ARGV[4] ids per call, and no more once ARGV[5] microseconds have
-- passed; call again while the second result is 1.
-- KEYS[1] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or ""): job hashes are built on it
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the most finished jobs to keep (0: no bound but their time)
-- ARGV[4] = the most ids to remove in this call
-- ARGV[5] = the time budget, microseconds
-- Returns {the number of jobs removed, 1 when more are due, else 0}.
-- It also trims the events stream to about its length (lib/events.lua).
-- qwsup:include fields
-- qwsup:include keys
-- qwsup:include clock
-- qwsup:include events
trim_events()
local start_us = now_us()
local now = math.floor(start_us / 1000)
local deadline = start_us + tonumber(ARGV[5])
local most = tonumber(ARGV[3])
local due = redis.call('ZCOUNT', KEYS[1], '-inf', now)
if most > 0 then  -- the earliest to go are the oldest: the same end of the set
  local over = redis.call('ZCARD', KEYS[1]) - most
  if over > due then
    due = over
  end
end
local n = math.min(due, tonumber(ARGV[4]))
if n <= 0 then
  return {0, 0}
end
local ids = redis.call('ZRANGE', KEYS[1], 0, n - 1)
local removed = 0
for _, id in ipairs(ids) do
  local key = keys.job(id)
  local state = redis.pcall('HGET', key, F.STATE)
  if state == 'done' or state == 'cancelled' then
    redis.call('DEL', key)
  end
  removed = removed + 1
  if past(deadline, removed) then
    break
  end
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, removed - 1)
local left = 0
if due > removed then
  left = 1
end
return {removed, left}
