-- What every registered supervisor's record shows of its life, for the masters that
-- watch each other's leases (see beat in lib/beat.lua).
-- KEYS[1] = all:managers
-- ARGV[1] = the key prefix ("<namespace>:" or ""): info keys are built on it
-- ARGV[2..] = the supervisors to read; none: every one in all:managers
-- Returns {name, beat, name, beat, ...}.
-- qwsup:include beat
local names = {unpack(ARGV, 2)}
if #names == 0 then
  names = redis.call('SMEMBERS', KEYS[1])
end
local reply = {}
for _, name in ipairs(names) do
  reply[#reply + 1] = name
  reply[#reply + 1] = beat(ARGV[1] .. name .. ':info')
end
return reply
