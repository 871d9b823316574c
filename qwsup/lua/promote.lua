-- Move the delayed jobs that are due to the back of the queue. Atomic, so when several
-- masters run it each due id moves exactly once.
-- Bounded: at most ARGV[1] ids per call; call again while it returns that many.
-- KEYS[1] = delayed:jobs, a sorted set scored by the time each id is due, unix ms
-- KEYS[2] = the queue (all:jobs)
-- ARGV[1] = the most ids to move in this call
-- Returns the number of ids moved.
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('LPUSH', KEYS[2], id)
end
return #due
