-- What every registered supervisor's record shows of its life, and the lease it
-- heartbeats for, for the masters that watch each other's leases (see beat in
-- lib/beat.lua). A record that cannot be read (a key of another type) is left out,
-- so that it does not blind the watchers to the others.
-- KEYS[1] = all:managers
-- ARGV[1] = the key prefix ("<namespace>:" or ""): info keys are built on it
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3..] = the supervisors to read; none: every one in all:managers
-- Returns {name, beat, lease ms ('' when unknown), name, beat, lease ms, ...}.
-- qwsup:include keys
-- qwsup:include beat
local names = {unpack(ARGV, 3)}
if #names == 0 then
  names = redis.call('SMEMBERS', KEYS[1])
end
local reply = {}
for _, name in ipairs(names) do
  local info = keys.info(name)
  local ok, seen = pcall(beat, info)
  if ok then
    local lease = redis.pcall('HGET', info, 'lease_ms')
    reply[#reply + 1] = name
    reply[#reply + 1] = seen
    reply[#reply + 1] = type(lease) == 'string' and lease or ''
  end
end
return reply
