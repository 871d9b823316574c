-- How a job ends: finished, or failed for good.
-- qwsup:include unique

-- finish(list, key, id): a worker finishes its job `id` (its hash `key`): the id leaves
-- the worker's own `list`, the unique name it holds is freed, its hash is deleted, as
-- one step; only if the id was still in that list (else someone requeued it: nothing
-- is deleted). Returns whether it was. Used by ack.lua and take.lua.
local function finish(list, key, id)
  if redis.call('LREM', list, -1, id) == 1 then
    release_unique(key, id)
    redis.call('DEL', key)
    return true
  end
  return false
end

-- fail_for_good(key, id, failed_at, failed): job `id` (its hash `key`) is out of
-- attempts: its unique name is freed, its hash gets qwsup:failed_at (unix seconds, as
-- text), and its id goes to the newest end of `failed` (failed:jobs). Used by fail.lua,
-- and by requeue.lua and reclaim.lua through put_back.
local function fail_for_good(key, id, failed_at, failed)
  release_unique(key, id)
  redis.call('HSET', key, 'qwsup:failed_at', failed_at)
  redis.call('LPUSH', failed, id)
end
