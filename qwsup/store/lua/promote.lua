-- Move the delayed jobs that are due (retries, and jobs enqueued to start later) to
-- the back of their queue: the one named in their hash's qwsup:queue, else all:jobs.
-- Atomic, so when several masters run it each due id moves exactly once.
-- Bounded: at most ARGV[3] ids per call, and no more once ARGV[4] microseconds have
-- passed; call again while the second result is 1.
-- KEYS[1] = delayed:jobs, a sorted set scored by the time each id is due, unix ms
-- KEYS[2] = all:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or ""): job hashes and queues are built on it
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the most ids to move in this call
-- ARGV[4] = the time budget, microseconds
-- Returns {the number of ids moved, 1 when due ids are left, else 0}.
-- qwsup:include keys
-- qwsup:include home
-- qwsup:include clock
-- qwsup:include state
local start_us = now_us()
local now = math.floor(start_us / 1000)  -- ms
local deadline = start_us + tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local moved = 0
for _, id in ipairs(due) do
  local key = keys.job(id)
  redis.call('LPUSH', home(key, KEYS[2]), id)
  mark(key, 'queued')
  moved = moved + 1
  if past(deadline, moved) then
    break
  end
end
if moved > 0 then
  redis.call('ZREM', KEYS[1], unpack(due, 1, moved))
end
local left = 0
if moved < #due or #redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1) > 0 then
  left = 1
end
return {moved, left}
