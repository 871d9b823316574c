-- Move the delayed jobs that are due (retries, and jobs enqueued to start later) to
-- the back of their queue: the one named in their hash's qwsup:queue, else all:jobs.
-- Atomic, so when several masters run it each due id moves exactly once.
-- Bounded: at most ARGV[1] ids per call; call again while it returns that many.
-- KEYS[1] = delayed:jobs, a sorted set scored by the time each id is due, unix ms
-- KEYS[2] = all:jobs
-- ARGV[1] = the most ids to move in this call
-- ARGV[2] = the key prefix ("<namespace>:" or ""): job hashes and queues are built on it
-- Returns the number of ids moved.
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local queue = KEYS[2]
  local name = redis.pcall('HGET', ARGV[2] .. 'job:' .. id, 'qwsup:queue')  -- pcall: any type
  if type(name) == 'string' and name ~= '' then
    queue = ARGV[2] .. name .. ':jobs'
  end
  redis.call('LPUSH', queue, id)
end
return #due
