-- A master that stops lets its name go: its record, registration, lease and place in
-- the heartbeats' order, only if it still holds the name (a master that lost it must
-- not remove the new holder's).
-- KEYS[1] = the supervisor's info hash (<name>:info)
-- KEYS[2] = all:managers
-- KEYS[3] = all:leases
-- KEYS[4] = all:beats
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the supervisor name
-- ARGV[4] = the token of its hold
-- Returns 1 when released, 0 when it did not hold the name.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[4] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[3])
return 1
