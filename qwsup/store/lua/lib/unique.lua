-- Unique names (unique:<name>, held by the id of the one job enqueued with that name).
-- qwsup:include fields
-- qwsup:include keys

-- release_unique(key, id): a unique job's name (qwsup:unique in its hash `key`) is free
-- again once the job is finished, failed for good or purged, if the name still holds
-- this job's id; free_name(name, id) when the name was read already.
local function free_name(name, id)
  if type(name) == 'string' then
    local lock = keys.unique(name)
    if redis.call('GET', lock) == id then
      redis.call('DEL', lock)
    end
  end
end

local function release_unique(key, id)
  free_name(redis.pcall('HGET', key, F.UNIQUE), id)
end

-- holds_unique(holder, name): whether job `holder` still holds unique name `name`, that
-- is, can still run under it: its hash exists, names `name` in qwsup:unique, has not
-- failed for good (no qwsup:failed_at) and has not ended (qwsup:state done, failed or
-- cancelled: a job kept after its end). A holder whose hash was deleted, whose key is of
-- another type or is another job's hash, or that failed for good, holds nothing: its
-- name may be taken over. When the caller's ACL refuses TYPE or HMGET (a producer's
-- user), it cannot tell, and the holder keeps the name.
local function holds_unique(holder, name)
  local key = keys.job(holder)
  local kind = redis.pcall('TYPE', key)
  if type(kind) ~= 'table' or type(kind['ok']) ~= 'string' then
    return true
  end
  if kind['ok'] ~= 'hash' then
    return false
  end
  local fields = redis.pcall('HMGET', key, F.UNIQUE, F.FAILED_AT, F.STATE)
  if fields['err'] then
    return true
  end
  local state = fields[3]
  local ended = state == 'done' or state == 'failed' or state == 'cancelled'
  return fields[1] == name and not fields[2] and not ended
end

-- unique_holder(lock, name): the job that holds unique name `name` (its key `lock`,
-- unique:<name>) and can still run (holds_unique), or nil when the name is free or its
-- holder holds it no more (it may then be taken over). Writes nothing.
local function unique_holder(lock, name)
  local holder = redis.call('GET', lock)
  if holder and holds_unique(holder, name) then
    return holder
  end
  return nil
end
