-- Put the named failed jobs back in their queue with their attempts reset (revive); a
-- unique job takes its name again, or stays failed while a job that can still run holds
-- it. An id that is not in failed:jobs is left alone.
-- Bounded: each id costs one LREM, a scan of failed:jobs from its newest end up to the
-- id; the call stops after ARGV[3] microseconds (having done at least one id) and says
-- how many ids it did; the caller sends the rest again.
-- KEYS[1] = failed:jobs
-- KEYS[2] = all:jobs: where a job goes unless it names its queue (qwsup:queue)
-- ARGV[1] = the key prefix ("<namespace>:" or ""): job hashes, queues and unique names
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the time budget, microseconds
-- ARGV[4..] = the ids to retry
-- Returns one reply per id done, in order: 1 moved, 0 not a failed job, or
-- {unique name, the id of the job holding it} for a job left in failed:jobs.
-- qwsup:include revive
-- qwsup:include clock
local deadline = now_us() + tonumber(ARGV[3])
local done = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call('LREM', KEYS[1], 1, id) == 0 then
    done[#done + 1] = 0
  else
    local name, holder = revive(id, KEYS[1], KEYS[2])
    if name then
      done[#done + 1] = {name, holder}
    else
      done[#done + 1] = 1
    end
  end
  if now_us() >= deadline then
    break
  end
end
return done
