-- Take the next jobs into the worker's own list and return them with their data,
-- having first finished the worker's previous job when one is given (as ack.lua
-- does), so that a busy worker needs one round trip for a batch of jobs.
-- Which jobs: those already in the worker's own list that it does not have in hand
-- (oldest first: moved there by its blocking wait); when it has
-- none, one job from the supervisor's own queue, alone; else jobs from its queues, the
-- first that has any (priority order), up to ARGV[6] in all. A worker runs its list
-- oldest first, so the oldest ids in a worker's list (as many as its concurrency) are
-- the jobs it is running; the others are only prefetched and not started.
-- Never blocks: when nothing is found it returns no job and the worker blocks on
-- all:jobs. Taking jobs also (re-)registers the worker and its supervisor, in the
-- same step, so that a job in a worker's list can always be found from all:managers.
-- Only a worker of the master that holds the supervisor's name takes jobs: ARGV[8] must
-- be the token in <name>:info (a master that was reclaimed while it stalled, or lost
-- its name, has another, or none). A fenced worker takes nothing, and what its list
-- holds (moved there by a blocking wait since the reclaim) goes back to its queue.
-- An empty id is dropped (removed from the worker's list, never run), reported as
-- {'', 'empty'}: '' is no job anywhere in qwsup's scripts. So is a job cancelled (its
-- state cancelled: cancel.lua could not find it on its queue; or asked to stop while it
-- was in a worker's list, and given back or requeued since), reported as
-- {id, 'cancelled'}: it ends cancelled and never runs.
-- Each job hash taken gets qwsup:state running, qwsup:worker (ARGV[3]) and
-- qwsup:started_at (unix ms, Redis clock) for `qwsup status` and `qwsup job`, and, taken from a queue other than all:jobs, qwsup:queue: the queue it goes back to
-- if it has to (its worker died, it is retried, it is given back).
-- KEYS[1] = the worker's own list (<name>.<pid>:jobs)
-- KEYS[2] = the supervisor's own queue (<name>:jobs)
-- KEYS[3] = the supervisor's worker set (<name>:workers)
-- KEYS[4] = all:managers
-- KEYS[5] = the finished job's hash (when ARGV[5] is not empty)
-- KEYS[6] = the supervisor's info hash (<name>:info), which holds the token
-- KEYS[7] = finished:jobs
-- KEYS[8..] = the worker's queues (<queue>:jobs), in priority order
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the worker id (<name>.<pid>)
-- ARGV[4] = the supervisor name
-- ARGV[5] = the id of the job the worker just finished, or ''
-- ARGV[6] = the most jobs to return (at least 1)
-- ARGV[7] = the most bytes of data a job may hold (names and values), 0: no limit
-- ARGV[8] = the token of the master's hold on the name ('' when no master holds it)
-- ARGV[9] = the name of the queue the worker blocked on (where the ids its wait moved
--           came from: they go back there when the worker is fenced, or the queue is
--           held back)
-- ARGV[10] = how many ids of its list the worker already has in hand (running or
--           held: the oldest ones, since it took them first); those are not returned
-- ARGV[11] = how long a finished job is kept, ms (0: deleted at once)
-- ARGV[12] = the type of the finished job's result (text, bytes, json), or '' for none
-- ARGV[13] = its result
-- ARGV[14] = '1' when the worker traces its attempts (qwsup/tracing.py): each job's
--           data then also holds qwsup:attempts (when it has any) and qwsup:queue
-- ARGV[15] = only for a worker with limited queues: how many of the jobs taken start
--           at once (1 for a worker of one slot, which holds the others; its free slots
--           for a worker of several, which starts them all), then
-- ARGV[16..] = per queue of the worker's with limits: its name, rate (jobs per window;
--           0: none), window (ms) and concurrency cap (0: none) (lib/gate)
-- Queues held back (paused, or at a limit: lib/gate) give no job; a limited queue gives
-- at most what its limits have room for, and no more than ARGV[15] start at once,
-- counted against its limits as it is taken. An id the
-- wait moved from a queue held back goes back to it (the end it was taken from).
-- Returns {finished: 1, or 0 when the worker no longer owned that job (or none was
-- given), fenced: 1 when the token is not the supervisor's (nothing taken), held: the
-- ms until a queue that held jobs back may give one (0: none held any back), then per
-- job taken, oldest first: {id, type of its key, {field, value, ...}} (the producer's
-- fields, and of qwsup's only qwsup:task and qwsup:args, and those ARGV[14] asks for),
-- or {id, 'oversize', bytes} for a hash over the limit (its data is not sent)}.
-- qwsup:include fields
-- qwsup:include keys
-- qwsup:include finish
-- qwsup:include home
-- qwsup:include clock
-- qwsup:include gate
local finished = 0
local now = now_ms()
if ARGV[5] ~= '' and finish(KEYS[1], KEYS[5], ARGV[5], now, tonumber(ARGV[11]), KEYS[7], ARGV[12], ARGV[13]) then
  finished = 1
end
if (redis.call('HGET', KEYS[6], 'token') or '') ~= ARGV[8] then
  while true do
    local id = redis.call('LPOP', KEYS[1])  -- the newest first: the oldest ends in front
    if not id then
      break
    end
    release_slot(keys.job(id), id)
    redis.call('RPUSH', home(keys.job(id), keys.queue_jobs(ARGV[9])), id)
  end
  return {finished, 1, 0}
end
gate.load(15)
local traced = ARGV[14] == '1'
local want = tonumber(ARGV[6])
local limit = tonumber(ARGV[7])
local batch = {}  -- ids, oldest first
local from = {}  -- id -> the name of the queue it was taken from, when not all:jobs
local limited = {}  -- id -> the name of the limited queue it was taken from
local known = tonumber(ARGV[10])
local held = redis.call('LRANGE', KEYS[1], -(known + want), -(known + 1))
local waited_on = ARGV[9]
for i = #held, 1, -1 do
  local id = held[i]
  if gate.may(waited_on, now) then
    batch[#batch + 1] = id
    if gate.limits[waited_on] then
      limited[id] = waited_on
    end
  else
    redis.call('LREM', KEYS[1], -1, id)
    redis.call('RPUSH', keys.queue_jobs(waited_on), id)  -- next again, where it was
    gate.room(waited_on, now)  -- (now that it holds this job back: held_ms)
  end
end
if #batch == 0 then
  local id = redis.call('RPOPLPUSH', KEYS[2], KEYS[1])
  if id then
    batch[1] = id
    from[id] = ARGV[4]
    want = 1
  end
end
for q = 8, #KEYS do
  if #batch >= want then
    break
  end
  local name = keys.queue_name(KEYS[q])
  while #batch < want and gate.may(name, now) do
    local id = redis.call('RPOPLPUSH', KEYS[q], KEYS[1])
    if not id then
      break
    end
    batch[#batch + 1] = id
    if name ~= 'all' then
      from[id] = name
    end
    if gate.limits[name] then
      limited[id] = name
    end
  end
end
local reply = {finished, 0, gate.held_ms}
if #batch == 0 then
  return reply
end
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
for _, id in ipairs(batch) do
  local key = keys.job(id)
  local kind = id ~= '' and redis.call('TYPE', key)['ok']
  if id == '' then
    redis.call('LREM', KEYS[1], 0, '')
    reply[#reply + 1] = {'', 'empty'}
  elseif kind == 'hash' then
    local flat = redis.call('HGETALL', key)  -- read once: its size, its state, its queue
    local size, own, data = 0, {}, {}  -- own: qwsup's fields; data: what the worker gets
    for i = 1, #flat, 2 do
      local field, value = flat[i], flat[i + 1]
      size = size + #field + #value
      if string.byte(field, 1) == 113 and string.sub(field, 1, 6) == 'qwsup:' then  -- 'q'
        own[field] = value
      end
      if not own[field] or field == F.TASK or field == F.ARGS
        or (traced and field == F.ATTEMPTS) then
        data[#data + 1] = field
        data[#data + 1] = value
      end
    end
    local state = own[F.STATE]
    if state == 'cancelled' or own[F.CANCEL] then
      redis.call('LREM', KEYS[1], -1, id)
      if state ~= 'cancelled' then
        cancel(key, id, now, tonumber(ARGV[11]), KEYS[7])
      end
      reply[#reply + 1] = {id, 'cancelled'}
    else
      local queue = from[id] or own[F.QUEUE] or 'all'
      if from[id] then
        redis.call(
          'HSET', key, F.STARTED_AT, now, F.STATE, 'running',
          F.WORKER, ARGV[3], F.QUEUE, queue
        )
      else
        redis.call(
          'HSET', key, F.STARTED_AT, now, F.STATE, 'running', F.WORKER, ARGV[3]
        )
      end
      if limited[id] then
        gate.admit(limited[id], key, id, now)
      end
      emit('started', id, queue, ARGV[3])
      if limit > 0 and size > limit then
        reply[#reply + 1] = {id, 'oversize', size}
      else
        if traced then
          data[#data + 1] = F.QUEUE
          data[#data + 1] = queue
        end
        reply[#reply + 1] = {id, kind, data}
      end
    end
  else
    reply[#reply + 1] = {id, kind}
  end
end
return reply
