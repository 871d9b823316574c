-- Give prefetched jobs back: a worker whose current job runs long returns the jobs it
-- took along and has not started, to the front of their queue, so that an idle sibling
-- takes them. Each id moves only if it is still in the worker's own list.
-- KEYS[1] = the worker's own list
-- KEYS[2] = all:jobs: where a job goes back unless it names its queue (qwsup:queue)
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2..] = the ids, the newest first (the oldest ends nearest the front, taken first)
-- Returns how many moved.
-- qwsup:include keys
-- qwsup:include home
-- qwsup:include state
local moved = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('LREM', KEYS[1], -1, id) == 1 then
    local key = keys.job(id)
    redis.call('RPUSH', home(key, KEYS[2]), id)
    mark(key, 'queued')
    moved = moved + 1
  end
end
return moved
