-- Put the oldest failed jobs back in their queue, oldest first, with their attempts
-- reset (revive); a unique job takes its name again, or stays failed (its id goes to the
-- newest end of failed:jobs) while a job that can still run holds it.
-- Bounded: at most ARGV[3] ids per call, and no more once ARGV[4] microseconds have
-- passed; the caller counts the ids taken, and stops once it has taken as many as
-- failed:jobs held when it started (so that a job left failed is not taken again).
-- KEYS[1] = failed:jobs
-- KEYS[2] = all:jobs: where a job goes unless it names its queue (qwsup:queue)
-- ARGV[1] = the key prefix ("<namespace>:" or ""): job hashes, queues and unique names
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the most ids to take in this call
-- ARGV[4] = the time budget, microseconds
-- Returns {ids taken from failed:jobs (0: it was empty), then for each job left failed:
-- its id, its unique name, the id of the job holding it}.
-- qwsup:include revive
-- qwsup:include clock
local deadline = now_us() + tonumber(ARGV[4])
local reply = {0}
for _ = 1, tonumber(ARGV[3]) do
  local id = redis.call('RPOP', KEYS[1])
  if not id then
    break
  end
  reply[1] = reply[1] + 1
  local name, holder = revive(id, KEYS[1], KEYS[2])
  if name then
    reply[#reply + 1] = id
    reply[#reply + 1] = name
    reply[#reply + 1] = holder
  end
  if past(deadline, reply[1]) then
    break
  end
end
return reply
