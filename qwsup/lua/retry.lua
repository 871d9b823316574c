-- Put failed jobs back in the queue with their attempts reset.
-- KEYS[1] = failed:jobs
-- KEYS[2] = the queue (all:jobs)
-- ARGV[1] = the job hash prefix ("<namespace>job:")
-- ARGV[2...] = the ids to retry
-- Returns the number of ids moved (an id not in failed:jobs is skipped).
local moved = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('LREM', KEYS[1], 0, id) > 0 then
    local key = ARGV[1] .. id
    if redis.call('TYPE', key)['ok'] == 'hash' then
      redis.call('HDEL', key, 'qwsup:attempts', 'qwsup:failed_at')
    end
    redis.call('LPUSH', KEYS[2], id)
    moved = moved + 1
  end
end
return moved
