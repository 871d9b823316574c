-- A master's heartbeat: renew its lease, on the Redis server's clock so that the
-- clocks of the hosts do not matter, (re-)register it in all:managers, and record
-- what `qwsup status` shows of it.
-- KEYS[1] = all:leases, a sorted set: supervisor name scored by its lease's end, unix ms
-- KEYS[2] = all:managers
-- KEYS[3] = the supervisor's info hash (<name>:info)
-- ARGV[1] = the supervisor name
-- ARGV[2] = the lease, milliseconds
-- ARGV[3] = the master's pid
-- ARGV[4] = the master's host name
-- ARGV[5] = its status line
-- ARGV[6] = its pools, JSON: [{"name", "count", "queues": [...], "workers": [...]}]
-- Returns 1 when the previous lease was still running, 0 when it was missing or over
-- (the first heartbeat, or the master stalled or lost Redis for longer than its lease).
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'heartbeat_ms', now_ms, 'lease_ms', ARGV[2], 'pid', ARGV[3],
  'host', ARGV[4], 'status', ARGV[5], 'pools', ARGV[6])
if previous and tonumber(previous) >= now_ms then
  return 1
end
return 0
