-- Enqueue a job to start later: write its hash and put its id in delayed:jobs, due at
-- a time given (unix ms) or after a delay counted on the Redis server's clock, as one
-- step. When it is due, a master's promote.lua pushes it on its queue.
-- KEYS[1] = the job hash
-- KEYS[2] = delayed:jobs
-- ARGV[1] = the job id
-- ARGV[2] = when it is due, unix ms, or '' to count ARGV[3] from now
-- ARGV[3] = the delay, ms
-- ARGV[4] = its queue's name ("all" for all:jobs, a supervisor's name for <name>:jobs)
-- ARGV[5..] = field, value, ... (qwsup:enqueued_at among them)
-- Returns when it is due, unix ms.
local due
if ARGV[2] ~= '' then
  due = tonumber(ARGV[2])
else
  local time = redis.call('TIME')
  due = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[3])
end
redis.call('HSET', KEYS[1], 'qwsup:queue', ARGV[4], unpack(ARGV, 5))
redis.call('ZADD', KEYS[2], due, ARGV[1])
return due
