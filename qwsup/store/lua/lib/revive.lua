-- revive(id, failed, all_jobs): a failed job, just taken out of failed:jobs (`failed`),
-- back at the back of its queue (qwsup:queue, as home() picks it, else `all_jobs`)
-- with its attempts reset. A unique job (qwsup:unique) first takes its name again:
-- free, already its own, or held by a job that cannot run any more (unique_holder).
-- When a job that can still run holds the name, the job stays failed: its id goes back
-- to the newest end of `failed`, its hash untouched. Returns nil when it moved, else
-- its unique name and the id of the job holding it. Used by retry.lua and retry_all.lua.
-- qwsup:include fields
-- qwsup:include keys
-- qwsup:include unique
-- qwsup:include state
local function revive(id, failed, all_jobs)
  local key = keys.job(id)
  local queue = all_jobs
  local fields = redis.pcall('HMGET', key, F.UNIQUE, F.QUEUE)
  if not fields['err'] then  -- a hash, or no key at all (a key of another type is left be)
    local name = fields[1]
    if name then
      local lock = keys.unique(name)
      local holder = unique_holder(lock, name)
      if holder and holder ~= id then
        redis.call('LPUSH', failed, id)
        return name, holder
      end
      redis.call('SET', lock, id)
    end
    if fields[2] and fields[2] ~= '' then
      queue = keys.queue_jobs(fields[2])
    end
    redis.call('HDEL', key, F.ATTEMPTS, F.FAILED_AT, F.FINISHED_AT)
    mark(key, 'queued')
  end
  redis.call('LPUSH', queue, id)
  return nil
end
