-- Remove failed jobs for good: their ids from failed:jobs and their hashes.
-- Bounded: at most ARGV[2] ids per call; call again while it returns that many.
-- KEYS[1] = failed:jobs
-- ARGV[1] = the job hash prefix ("<namespace>job:")
-- ARGV[2] = the most ids to remove in this call
-- Returns the number of ids removed.
local removed = 0
for _ = 1, tonumber(ARGV[2]) do
  local id = redis.call('RPOP', KEYS[1])
  if not id then
    break
  end
  if redis.call('TYPE', ARGV[1] .. id)['ok'] == 'hash' then
    redis.call('DEL', ARGV[1] .. id)
  end
  removed = removed + 1
end
return removed
