-- Remove the named failed jobs for good: each id from failed:jobs and its hash; a
-- unique name one of them still holds is freed. An id that is not in failed:jobs is
-- left alone (its job may have been retried meanwhile).
-- Bounded: each id costs one LREM (a scan of failed:jobs from its newest end up to the
-- id); the call stops after ARGV[3] microseconds (having done at least one id) and says
-- how many ids it did; the caller sends the rest again.
-- KEYS[1] = failed:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or ""): job hashes and unique names
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the time budget, microseconds
-- ARGV[4..] = the ids to remove
-- Returns {ids done, ids removed}.
-- qwsup:include forget
-- qwsup:include clock
local deadline = now_us() + tonumber(ARGV[3])
local done, removed = 0, 0
for i = 4, #ARGV do
  local id = ARGV[i]
  done = done + 1
  if redis.call('LREM', KEYS[1], 1, id) > 0 then
    forget(id)
    removed = removed + 1
  end
  if past(deadline, done) then
    break
  end
end
return {done, removed}
