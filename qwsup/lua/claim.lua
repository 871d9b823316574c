-- Take the supervisor's name: from nobody, or from a holder known to be gone (its
-- master died on this machine, or it was watched silent for a whole lease). A
-- compare-and-set on the holder's token, so that of two masters taking the same
-- name at once exactly one gets it. The new record starts with `beats` at 0.
-- KEYS[1] = the supervisor's info hash (<name>:info)
-- KEYS[2] = all:managers
-- KEYS[3] = all:leases
-- ARGV[1] = the supervisor name
-- ARGV[2] = the new holder's token
-- ARGV[3] = the token the name must hold now: '' for none (no record, or a record
--           without a token)
-- ARGV[4] = the lease, milliseconds
-- ARGV[5..] = field, value, ...: who holds it (pid, host, boot_id, pidns, started)
-- Returns {1, ''} when taken, {0, the token holding it} when not.
local holder = redis.call('HGET', KEYS[1], 'token') or ''
if holder ~= ARGV[3] then
  return {0, holder}
end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'beats', 0, 'since_ms', now_ms,
  'heartbeat_ms', now_ms, 'lease_ms', ARGV[4], unpack(ARGV, 5))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[4]), ARGV[1])
return {1, ''}
