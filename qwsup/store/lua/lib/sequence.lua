-- sequence: the order of the supervisors' heartbeats, which lets a master watch every
-- lease in one call (watch.lua) instead of reading every record. A heartbeat (or a
-- claim, or the first call of a reclaim) takes the next number of the counter
-- all:beat_seq (a hash, field `seq`: HINCRBY is the increment the qwsup ACL user has)
-- and scores its name with it in all:beats, and writes it in the record (`beat_seq`),
-- so that a watcher can tell an entry of all:beats that a qwsup of an older version
-- left behind (a record it took over has no `beat_seq`, or another). Never a clock: the
-- numbers only say which heartbeat came before which.
local function next_beat(beats, counter, info, name)
  local seq = redis.call('HINCRBY', counter, 'seq', 1)
  redis.call('ZADD', beats, seq, name)
  redis.call('HSET', info, 'beat_seq', seq)
  return seq
end
