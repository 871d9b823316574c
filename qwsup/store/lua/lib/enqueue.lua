-- enqueue_job: how a job is enqueued (enqueue.lua, and cron.lua for a schedule's tick).
-- qwsup:include fields
-- qwsup:include unique
-- qwsup:include clock
-- qwsup:include events

-- enqueue_job(key, delayed, queue_key, unique_key, finished, id, at, delay, queue,
-- unique, fields): job `id` (its hash `key`) with `fields` ({field, value, ...}) on
-- `queue` (its name; its list `queue_key`), or in `delayed` until `at` (unix ms) or
-- after `delay` (ms; both '': now); `unique` its unique name (its key `unique_key`) or
-- ''; `finished` is finished:jobs. Returns {1, id} when enqueued, {0, the id of the job
-- holding the name} when not (enqueue.lua says the rest).
local function enqueue_job(
  key, delayed, queue_key, unique_key, finished, id, at, delay, queue, unique, fields
)
  if unique ~= '' then
    local holder = unique_holder(unique_key, unique)
    if holder then
      return {0, holder}
    end
  end
  local old = redis.pcall('HGET', key, F.STATE)
  if old == 'done' or old == 'cancelled' then
    redis.call('DEL', key)
    redis.call('ZREM', finished, id)
  end
  local now = now_ms()
  local later = at ~= '' or delay ~= ''
  -- the hash in one HSET: the producer's fields, then qwsup's
  local function add(field, value)
    fields[#fields + 1] = field
    fields[#fields + 1] = value
  end
  add(F.STATE, later and 'scheduled' or 'queued')
  add(F.ENQUEUED_AT, now)
  if later or queue ~= 'all' then  -- the queue it goes to (and where a cancel finds it)
    add(F.QUEUE, queue)
  end
  if unique ~= '' then
    redis.call('SET', unique_key, id)
    add(F.UNIQUE, unique)
  end
  redis.call('HSET', key, unpack(fields))
  if not later then
    redis.call('LPUSH', queue_key, id)
    emit('enqueued', id, queue, '')
    trim_events()
    return {1, id}
  end
  local due
  if at ~= '' then
    due = tonumber(at)
  else
    due = now + tonumber(delay)
  end
  redis.call('ZADD', delayed, due, id)
  emit('enqueued', id, queue, '', 'due', due)
  trim_events()
  return {1, id}
end
