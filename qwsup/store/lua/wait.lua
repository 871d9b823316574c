-- Where a job is, for someone who waits for its end: its hash, and, unless it has
-- ended, a mark on it (qwsup:waited) so that its end is told on ended:<id> (see
-- lib/state.lua), in one step, so that no end falls between the look and the mark.
-- KEYS[1] = the job hash
-- KEYS[2] = ended:<id>
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- Returns {its fields (HGETALL: [] when it has no hash), the state ended:<id> holds
-- ('' when none: not ended, or ended over a minute ago)}.
-- qwsup:include fields
local fields = {}
if redis.call('TYPE', KEYS[1])['ok'] == 'hash' then
  fields = redis.call('HGETALL', KEYS[1])
  local state = redis.call('HGET', KEYS[1], F.STATE)
  if state ~= 'done' and state ~= 'failed' and state ~= 'cancelled' then
    redis.call('HSET', KEYS[1], F.WAITED, '1')
  end
end
return {fields, redis.call('LINDEX', KEYS[2], 0) or ''}
