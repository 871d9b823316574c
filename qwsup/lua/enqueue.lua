-- Enqueue a job that needs a decision in Redis: one to start later, or a unique one.
-- Writes its hash and either pushes its id on its queue or puts it in delayed:jobs,
-- due at a time given (unix ms) or after a delay counted on the Redis server's clock,
-- as one step. When it is due, a master's promote.lua pushes it on its queue.
-- A unique job first takes unique:<name>, which holds its id until it is finished,
-- failed for good or purged; while another job that can still run holds it, nothing is
-- written. A holder that cannot run any more (its hash deleted, a key of another type,
-- a hash that does not name it, failed for good: see holds_unique) holds nothing, and
-- the name is taken over. The holder's hash is found from the job hash prefix, KEYS[1]
-- without ARGV[1].
-- KEYS[1] = the job hash
-- KEYS[2] = delayed:jobs
-- KEYS[3] = its queue
-- KEYS[4] = unique:<name> (when ARGV[5] is not empty)
-- ARGV[1] = the job id
-- ARGV[2] = when it is due, unix ms, or ''
-- ARGV[3] = the delay, ms, or '' (both '': push it now)
-- ARGV[4] = its queue's name ("all" for all:jobs, a supervisor's name for <name>:jobs)
-- ARGV[5] = its unique name, or ''
-- ARGV[6..] = field, value, ... (qwsup:enqueued_at among them)
-- Returns {1, id} when enqueued, {0, the id of the job holding the name} when not.
-- qwsup:include unique
if ARGV[5] ~= '' then
  local holder = unique_holder(KEYS[4], string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1]), ARGV[5])
  if holder then
    return {0, holder}
  end
  redis.call('SET', KEYS[4], ARGV[1])
  redis.call('HSET', KEYS[1], 'qwsup:unique', ARGV[5])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
if ARGV[2] == '' and ARGV[3] == '' then
  redis.call('LPUSH', KEYS[3], ARGV[1])
  return {1, ARGV[1]}
end
local due
if ARGV[2] ~= '' then
  due = tonumber(ARGV[2])
else
  local time = redis.call('TIME')
  due = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[3])
end
redis.call('HSET', KEYS[1], 'qwsup:queue', ARGV[4])
redis.call('ZADD', KEYS[2], due, ARGV[1])
return {1, ARGV[1]}
