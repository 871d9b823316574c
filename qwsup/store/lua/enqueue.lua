-- Enqueue a job: writes its hash, with qwsup:state (queued, or scheduled) and
-- qwsup:enqueued_at (unix ms, Redis clock), and either pushes its id on its queue or
-- puts it in delayed:jobs,
-- due at a time given (unix ms) or after a delay counted on the Redis server's clock,
-- as one step. When it is due, a master's promote.lua pushes it on its queue.
-- A unique job first takes unique:<name>, which holds its id until it is finished,
-- failed for good or purged; while another job that can still run holds it, nothing is
-- written. A holder that cannot run any more (its hash deleted, a key of another type,
-- a hash that does not name it, failed for good: see holds_unique) holds nothing, and
-- the name is taken over.
-- An id whose job ended and is still kept (state done or cancelled: finished:jobs) is
-- a new job: the old hash goes first.
-- KEYS[1] = the job hash
-- KEYS[2] = delayed:jobs
-- KEYS[3] = its queue
-- KEYS[4] = unique:<name> (when ARGV[7] is not empty)
-- KEYS[5] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the job id
-- ARGV[4] = when it is due, unix ms, or ''
-- ARGV[5] = the delay, ms, or '' (both '': push it now)
-- ARGV[6] = its queue's name ("all" for all:jobs, a supervisor's name for <name>:jobs)
-- ARGV[7] = its unique name, or ''
-- ARGV[8..] = field, value, ...
-- Returns {1, id} when enqueued, {0, the id of the job holding the name} when not.
-- qwsup:include enqueue
return enqueue_job(
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  {unpack(ARGV, 8)}
)
