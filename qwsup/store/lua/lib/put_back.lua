-- put_back(list, id, cost, max_attempts, reason, failed_at, failed, all_jobs, running,
-- now, keep_ms, finished): an id just popped (newest first) from a gone worker's `list`
-- goes back to the front of its queue (home), or, when it was a job running (one of
-- the oldest `running` ids: fewer than that are left in the list) and `cost` attempts
-- use up its last one, to `failed` with `reason`. A job asked to stop (cancel_asked)
-- ends cancelled instead (kept `keep_ms` in `finished`), uncharged. Returns 'failed'
-- when it failed for good, 'cancelled' when it ended cancelled, else nil. Used by
-- requeue.lua and reclaim.lua. Its slot of a concurrency limit is freed (lib/slot).
-- qwsup:include fields
-- qwsup:include keys
-- qwsup:include finish
-- qwsup:include home
-- qwsup:include state
local function put_back(
  list, id, cost, max_attempts, reason, failed_at, failed, all_jobs, running, now, keep_ms, finished
)
  local key = keys.job(id)
  release_slot(key, id)
  if cancel_asked(key) then
    cancel(key, id, now, keep_ms, finished)
    return 'cancelled'
  end
  if cost > 0 and redis.call('LLEN', list) < running and redis.call('TYPE', key)['ok'] == 'hash' then
    local attempts = redis.call('HINCRBY', key, F.ATTEMPTS, cost)
    redis.call('HSET', key, F.LAST_ERROR, reason, F.TRACEBACK, '')
    if attempts >= max_attempts then
      fail_for_good(key, id, failed_at, failed)
      return 'failed'
    end
    emit_job('retrying', key, id, worker_of(list), 'attempt', attempts, 'error', reason)
  end
  redis.call('RPUSH', home(key, all_jobs), id)
  mark(key, 'queued')
  return nil
end
