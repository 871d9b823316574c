-- put_back(list, id, cost, max_attempts, reason, failed_at, failed, all_jobs): an id
-- just popped from a gone worker's `list` goes back to the front of its queue (home),
-- or, when it was the job running (the list is now empty: the oldest) and `cost`
-- attempts use up its last one, to `failed` with `reason`. Returns true when it failed
-- for good. Used by requeue.lua and reclaim.lua.
-- qwsup:include keys
-- qwsup:include finish
-- qwsup:include home
local function put_back(list, id, cost, max_attempts, reason, failed_at, failed, all_jobs)
  local key = keys.job(id)
  if cost > 0 and redis.call('LLEN', list) == 0 and redis.call('TYPE', key)['ok'] == 'hash' then
    local attempts = redis.call('HINCRBY', key, 'qwsup:attempts', cost)
    redis.call('HSET', key, 'qwsup:last_error', reason, 'qwsup:traceback', '')
    if attempts >= max_attempts then
      fail_for_good(key, id, failed_at, failed)
      return true
    end
  end
  redis.call('RPUSH', home(key, all_jobs), id)
  return false
end
