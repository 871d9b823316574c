-- Put failed jobs back in their queue with their attempts reset.
-- KEYS[1] = failed:jobs
-- KEYS[2] = all:jobs: where a job goes unless it names its queue (qwsup:queue)
-- ARGV[1] = the job hash prefix ("<namespace>job:")
-- ARGV[2...] = the ids to retry
-- ARGV[#ARGV] = the key prefix ("<namespace>:" or "")
-- Returns the number of ids moved (an id not in failed:jobs is skipped).
-- qwsup:include home
local moved = 0
for i = 2, #ARGV - 1 do
  local id = ARGV[i]
  if redis.call('LREM', KEYS[1], 0, id) > 0 then
    local key = ARGV[1] .. id
    if redis.call('TYPE', key)['ok'] == 'hash' then
      redis.call('HDEL', key, 'qwsup:attempts', 'qwsup:failed_at')
    end
    redis.call('LPUSH', home(ARGV[#ARGV], key, KEYS[2]), id)
    moved = moved + 1
  end
end
return moved
