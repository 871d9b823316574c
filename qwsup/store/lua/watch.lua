-- One master's watch over the leases of every supervisor, in one call whatever their
-- number (the rule is BeatWatch in qwsup/master/leases.py). Every heartbeat takes the next
-- number of the heartbeats' order and scores its name with it in all:beats
-- (lib/sequence.lua), so the supervisors that have not beaten since the counter stood
-- at N are those scored N or less: ZRANGEBYSCORE finds them in O(log n + found). The
-- watcher sends the N a read of its own showed a lease ago (on its own clock) and gets
-- back the counter now and those suspects, with what their records show.
-- An entry of all:beats whose record does not carry its number (`beat_seq`), or whose
-- name is no longer in all:leases, was left by a qwsup of an older version (which took
-- the name over, released or reclaimed it): it is removed, not reported. Whether every
-- supervisor in all:leases (where every version registers its lease) is in all:beats is
-- reported too: when not, a master of an older version runs, and the watcher reads the
-- records of all (beats.lua) as well.
-- The counter now is written into the watcher's own record (`watch_seq`), and the value
-- found there returned: a watcher that does not find there what its last read left
-- knows Redis went back in time (a failover or a restart lost writes), so that the
-- numbers it has seen may be handed out again; it starts its watch again.
-- KEYS[1] = all:beats, a sorted set: supervisor name scored by its last heartbeat's number
-- KEYS[2] = all:beat_seq, a hash: `seq`, the number of the last heartbeat
-- KEYS[3] = all:leases
-- KEYS[4] = the watcher's own record (<name>:info)
-- ARGV[1] = the key prefix ("<namespace>:" or ""): info keys are built on it
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the token of the watcher's hold on its name
-- ARGV[4] = report the supervisors scored this or less ('-1': none)
-- ARGV[5] = the most to report (the oldest first)
-- Returns {} when the watcher does not hold its name (its record has another token),
-- else {the counter now, the watch_seq found ('' none), 1 when every supervisor in
-- all:leases is in all:beats else 0, then per suspect: name, number, beat (lib/beat.lua),
-- lease ms ('' unknown)}.
-- qwsup:include keys
-- qwsup:include beat
if redis.call('HGET', KEYS[4], 'token') ~= ARGV[3] then
  return {}
end
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
local mark = redis.call('HGET', KEYS[4], 'watch_seq') or ''
redis.call('HSET', KEYS[4], 'watch_seq', seq)
local reply = {seq, mark, 0}
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4], 'WITHSCORES', 'LIMIT', 0,
  tonumber(ARGV[5]))
for i = 1, #found, 2 do
  local name, number = found[i], tonumber(found[i + 1])
  local info = keys.info(name)
  local written = redis.pcall('HGET', info, 'beat_seq')
  local ok = type(written) ~= 'table'  -- (an error: a key of another type)
  if ok and tonumber(written or '') == number and redis.call('ZSCORE', KEYS[3], name) then
    local lease = redis.call('HGET', info, 'lease_ms')
    reply[#reply + 1] = name
    reply[#reply + 1] = number
    reply[#reply + 1] = beat(info)
    reply[#reply + 1] = lease or ''
  elseif ok then  -- left by an older qwsup (a record of another type is left alone)
    redis.call('ZREM', KEYS[1], name)
  end
end
if redis.call('ZCARD', KEYS[1]) == redis.call('ZCARD', KEYS[3]) then
  reply[3] = 1
end
return reply
