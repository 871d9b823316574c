-- How a job ends: finished, or failed for good.
-- qwsup:include fields
-- qwsup:include unique
-- qwsup:include state
-- qwsup:include clock
-- qwsup:include events
-- qwsup:include slot

-- finish(list, key, id, now, keep_ms, finished, result_type, result): a worker finishes
-- its job `id` (its hash `key`) at `now` (unix ms): the id leaves the worker's own
-- `list`, the unique name it holds is freed, and the job is closed as done (lib/state:
-- kept `keep_ms` with its result, when `result_type` is not '', else deleted), as one
-- step; only if the id was still in that list (else someone requeued it: nothing is
-- changed). A job asked to stop meanwhile (cancel_asked) is closed as cancelled, its
-- result dropped: a cancel that was answered "stopping" ends in cancelled. Returns
-- 'done' or 'cancelled' when it was finished, else nil. Used by ack.lua and take.lua.
local function finish(list, key, id, now, keep_ms, finished, result_type, result)
  if redis.call('LREM', list, -1, id) ~= 1 then
    return nil
  end
  local seen = look(key)
  local worker = worker_of(list)
  if seen then
    free_name(seen.unique, id)
    free_slot(key, id, seen.capped)
  end
  if seen and seen.cancel then
    emit('cancelled', id, seen.queue, worker)
    close(key, id, 'cancelled', now, keep_ms, finished, seen)
    return 'cancelled'
  end
  emit('done', id, seen and seen.queue or 'all', worker)
  if result_type ~= '' then
    close(key, id, 'done', now, keep_ms, finished, seen, F.RESULT, result,
      F.RESULT_TYPE, result_type)
  else
    close(key, id, 'done', now, keep_ms, finished, seen)
  end
  return 'done'
end

-- cancel(key, id, now, keep_ms, finished): job `id` (its hash `key`), out of every list,
-- ends cancelled at `now`: its unique name is freed, and it is closed as cancelled (kept
-- `keep_ms`, or deleted). No attempt is charged; it is not in failed:jobs.
local function cancel(key, id, now, keep_ms, finished)
  local seen = look(key)
  if seen then
    free_name(seen.unique, id)
    free_slot(key, id, seen.capped)
  end
  emit('cancelled', id, seen and seen.queue or 'all', '')
  close(key, id, 'cancelled', now, keep_ms, finished, seen)
end

-- fail_for_good(key, id, failed_at, failed): job `id` (its hash `key`) is out of
-- attempts: its unique name is freed, its hash gets qwsup:failed_at (unix seconds, as
-- text), its state failed and qwsup:finished_at, its waiters are told, and its id goes
-- to the newest end of `failed` (failed:jobs), where it stays until retried or purged.
-- Used by fail.lua, and by requeue.lua and reclaim.lua through put_back (both free
-- the job's slot of a concurrency limit first, lib/slot).
local function fail_for_good(key, id, failed_at, failed)
  release_unique(key, id)
  redis.call(
    'HSET', key, F.FAILED_AT, failed_at, F.STATE, 'failed', F.FINISHED_AT, now_ms()
  )
  if type(redis.pcall('HGET', key, F.WAITED)) == 'string' then
    tell_waiters(id, 'failed')
  end
  emit_job('failed', key, id, '', 'error', redis.call('HGET', key, F.LAST_ERROR) or '')
  redis.call('LPUSH', failed, id)
end
