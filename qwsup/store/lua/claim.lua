-- Take the supervisor's name: from nobody, or from a holder known to be gone (its
-- master died on this machine, or it was watched silent for a whole lease). A
-- compare-and-set on the holder's token, so that of two masters taking the same
-- name at once exactly one gets it. The new record starts with `beats` at 0.
-- KEYS[1] = the supervisor's info hash (<name>:info)
-- KEYS[2] = all:managers
-- KEYS[3] = all:leases
-- KEYS[4] = all:beats (see lib/sequence.lua)
-- KEYS[5] = all:beat_seq
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the supervisor name
-- ARGV[4] = the new holder's token
-- ARGV[5] = the token the name must hold now: '' for none (no record, or a record
--           without a token)
-- ARGV[6] = the lease, milliseconds
-- ARGV[7..] = field, value, ...: who holds it (pid, host, boot_id, pidns, started)
-- Returns {1, ''} when taken, {0, the token holding it} when not.
-- qwsup:include clock
-- qwsup:include sequence
local holder = redis.call('HGET', KEYS[1], 'token') or ''
if holder ~= ARGV[5] then
  return {0, holder}
end
local now = now_ms()
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[4], 'beats', 0, 'since_ms', now,
  'heartbeat_ms', now, 'lease_ms', ARGV[6], unpack(ARGV, 7))
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[3])
next_beat(KEYS[4], KEYS[5], KEYS[1], ARGV[3])
return {1, ''}
