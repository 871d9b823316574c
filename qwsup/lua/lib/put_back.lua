-- put_back(prefix, list, id, cost, max_attempts, reason, failed_at, failed, all_jobs):
-- an id just popped from a gone worker's `list` goes back to the front of its queue
-- (home), or, when it was the job running (the list is now empty: the oldest) and
-- `cost` attempts use up its last one, to `failed` with `reason`. Returns true when
-- it failed for good. Needs home and release_unique. Included by requeue and
-- reclaim.lua (see SCRIPTS in queue.py).
local function put_back(prefix, list, id, cost, max_attempts, reason, failed_at, failed, all_jobs)
  local key = prefix .. 'job:' .. id
  local dead = false
  if cost > 0 and redis.call('LLEN', list) == 0 and redis.call('TYPE', key)['ok'] == 'hash' then
    local attempts = redis.call('HINCRBY', key, 'qwsup:attempts', cost)
    redis.call('HSET', key, 'qwsup:last_error', reason, 'qwsup:traceback', '')
    if attempts >= max_attempts then
      release_unique(prefix, key, id)
      redis.call('HSET', key, 'qwsup:failed_at', failed_at)
      dead = true
    end
  end
  if dead then
    redis.call('LPUSH', failed, id)
  else
    redis.call('RPUSH', home(prefix, key, all_jobs), id)
  end
  return dead
end
