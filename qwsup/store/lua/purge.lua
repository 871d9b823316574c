-- Remove the oldest failed jobs for good: their ids from failed:jobs and their hashes;
-- a unique name one of them still holds is freed.
-- Bounded: at most ARGV[3] ids per call, and no more once ARGV[4] microseconds have
-- passed; the caller counts the ids removed, and stops once it has removed as many as
-- failed:jobs held when it started.
-- KEYS[1] = failed:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or ""): job hashes and unique names
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the most ids to remove in this call
-- ARGV[4] = the time budget, microseconds
-- Returns the number of ids removed (0: failed:jobs was empty).
-- qwsup:include forget
-- qwsup:include clock
local deadline = now_us() + tonumber(ARGV[4])
local removed = 0
for _ = 1, tonumber(ARGV[3]) do
  local id = redis.call('RPOP', KEYS[1])
  if not id then
    break
  end
  forget(id)
  removed = removed + 1
  if past(deadline, removed) then
    break
  end
end
return removed
