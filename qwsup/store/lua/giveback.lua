-- Give prefetched jobs back: a worker whose current job runs long returns the jobs it
-- took along and has not started, to the front of their queue, so that an idle sibling
-- takes them. Each id moves only if it is still in the worker's own list.
-- KEYS[1] = the worker's own list
-- KEYS[2] = all:jobs: where a job goes back unless it names its queue (qwsup:queue)
-- KEYS[3] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = how long a job that ends cancelled is kept, ms
-- ARGV[4..] = the ids, the newest first (the oldest ends nearest the front, taken first)
-- A job asked to stop meanwhile (cancel.lua) ends cancelled instead.
-- Returns how many moved (or ended cancelled).
-- qwsup:include keys
-- qwsup:include home
-- qwsup:include finish
-- qwsup:include clock
local moved = 0
local now = now_ms()
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call('LREM', KEYS[1], -1, id) == 1 then
    local key = keys.job(id)
    release_slot(key, id)
    if cancel_asked(key) then
      cancel(key, id, now, tonumber(ARGV[3]), KEYS[3])
    else
      redis.call('RPUSH', home(key, KEYS[2]), id)
      mark(key, 'queued')
    end
    moved = moved + 1
  end
end
return moved
