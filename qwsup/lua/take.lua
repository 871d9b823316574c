-- Take the next job into the worker's own list and return it with its data, having
-- first finished the worker's previous job when one is given (as ack.lua does), so
-- that a busy worker needs one round trip a job.
-- Order: a job already in the worker's own list, then the host queue, then all:jobs.
-- Never blocks: when all three are empty it returns no job and the worker blocks on
-- all:jobs. Taking a job also (re-)registers the worker and its supervisor, in the
-- same step, so that a job in a worker's list can always be found from all:managers.
-- A job hash gets qwsup:started_at (unix ms, Redis clock) for `qwsup status`.
-- KEYS[1] = the worker's own list (<name>.<pid>:jobs)
-- KEYS[2] = the host queue (<name>:jobs)
-- KEYS[3] = the shared queue (all:jobs)
-- KEYS[4] = the supervisor's worker set (<name>:workers)
-- KEYS[5] = all:managers
-- KEYS[6] = the finished job's hash (when ARGV[4] is not empty)
-- ARGV[1] = the job hash prefix ("<namespace>job:")
-- ARGV[2] = the worker id (<name>.<pid>)
-- ARGV[3] = the supervisor name
-- ARGV[4] = the id of the job the worker just finished, or ''
-- Returns {finished: 1, or 0 when the worker no longer owned that job (or none was
-- given), then nothing, or the next job: id, type of its key, {field, value, ...}}.
local finished = 0
if ARGV[4] ~= '' and redis.call('LREM', KEYS[1], -1, ARGV[4]) == 1 then
  redis.call('DEL', KEYS[6])
  finished = 1
end
local id = redis.call('LINDEX', KEYS[1], -1)
if not id then
  id = redis.call('RPOPLPUSH', KEYS[2], KEYS[1])
  if not id then
    id = redis.call('RPOPLPUSH', KEYS[3], KEYS[1])
    if not id then
      return {finished}
    end
  end
end
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[3])
local key = ARGV[1] .. id
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'hash' then
  return {finished, id, kind}
end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('HSET', key, 'qwsup:started_at', now_ms)
return {finished, id, kind, redis.call('HGETALL', key)}
