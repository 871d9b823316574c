-- Give prefetched jobs back: a worker whose current job runs long returns the jobs it
-- took along and has not started, to the front of all:jobs, so that an idle sibling
-- takes them. Each id moves only if it is still in the worker's own list.
-- KEYS[1] = the worker's own list
-- KEYS[2] = all:jobs
-- ARGV = the ids, the newest first (the oldest ends nearest the front, taken first)
-- Returns how many moved.
local moved = 0
for _, id in ipairs(ARGV) do
  if redis.call('LREM', KEYS[1], -1, id) == 1 then
    redis.call('RPUSH', KEYS[2], id)
    moved = moved + 1
  end
end
return moved
