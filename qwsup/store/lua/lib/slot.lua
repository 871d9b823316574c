-- A job taken under its queue's concurrency limit holds a slot of it (its id in
-- <queue>:running, the queue's name in its qwsup:capped) until it leaves the worker's
-- list: finished, failed, put back, given back, cancelled. Every script that takes an
-- id out of a worker's list frees its slot in the same step; take.lua's audit (lib/gate)
-- drops what a path could still have missed, so that no cap leaks.
-- qwsup:include fields
-- qwsup:include keys

-- free_slot(key, id, capped): job `id` (its hash `key`), taken under queue `capped`'s
-- limit (its qwsup:capped; nil: none), frees its slot.
local function free_slot(key, id, capped)
  if capped then
    redis.call('SREM', keys.running(capped), id)
    redis.call('HDEL', key, F.CAPPED)
  end
end

-- release_slot(key, id): the same, reading qwsup:capped itself (nothing when the key is
-- no hash).
local function release_slot(key, id)
  local capped = redis.pcall('HGET', key, F.CAPPED)
  if type(capped) == 'string' then
    free_slot(key, id, capped)
  end
end
