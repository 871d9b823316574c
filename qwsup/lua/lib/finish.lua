-- finish(list, key, id): a worker finishes its job `id` (its hash `key`): the id leaves
-- the worker's own `list`, the unique name it holds is freed, its hash is deleted, as
-- one step; only if the id was still in that list (else someone requeued it: nothing
-- is deleted). Returns whether it was. Used by ack.lua and take.lua.
-- qwsup:include unique
local function finish(list, key, id)
  if redis.call('LREM', list, -1, id) == 1 then
    release_unique(key, id)
    redis.call('DEL', key)
    return true
  end
  return false
end
