-- A master's heartbeat: renew its hold on the supervisor's name. Only the holder
-- renews: the token in <name>:info must be the master's own (claim.lua set it). It
-- bumps `beats`, the counter the other masters watch (a lease is judged by whether
-- it moves, on the watcher's own clock: see docs/protocol.md), takes the next number of
-- the heartbeats' order (lib/sequence.lua: what watch.lua reads), sets the end of its
-- lease in all:leases (Redis clock; what `qwsup status` shows), (re-)registers it in
-- all:managers, and records what `qwsup status` shows of it.
-- KEYS[1] = all:leases, a sorted set: supervisor name scored by its lease's end, unix ms
-- KEYS[2] = all:managers
-- KEYS[3] = the supervisor's info hash (<name>:info)
-- KEYS[4] = all:beats, a sorted set: supervisor name scored by its last heartbeat's number
-- KEYS[5] = all:beat_seq, a hash: `seq`, the number of the last heartbeat
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the supervisor name
-- ARGV[4] = the lease, milliseconds
-- ARGV[5] = the master's pid
-- ARGV[6] = the machine's host name
-- ARGV[7] = its status line
-- ARGV[8] = its pools, JSON: [{"name", "count", "queues": [...], "workers": [...]}]
-- ARGV[9] = the token of its hold on the name
-- Returns 1 when renewed, 0 when the name has no holder any more (another master
-- reclaimed it: this one stalled or was cut off), -1 when another master holds it.
-- qwsup:include clock
-- qwsup:include sequence
local holder = redis.call('HGET', KEYS[3], 'token')
if holder ~= ARGV[9] then
  if holder then
    return -1
  end
  return 0
end
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('HINCRBY', KEYS[3], 'beats', 1)
next_beat(KEYS[4], KEYS[5], KEYS[3], ARGV[3])
redis.call('HSET', KEYS[3], 'heartbeat_ms', now, 'lease_ms', ARGV[4], 'pid', ARGV[5],
  'host', ARGV[6], 'status', ARGV[7], 'pools', ARGV[8])
return 1
