-- A job's writes, sent with its acknowledgement (qwsup.pipeline() in the handler).

-- apply_writes(first): run the writes in ARGV from ARGV[first] on, each a count n
-- followed by n words (a command and its arguments), in order. A write that fails (a
-- key of another type, a command a script may not run, a right the user lacks)
-- does not stop the others. Returns {n, error, n, error, ...} for those that failed
-- (n counts the writes from 1). Used by ack.lua.
local function apply_writes(first)
  local errors = {}
  local at, n = first, 0
  while at <= #ARGV do
    local count = tonumber(ARGV[at])
    n = n + 1
    local reply = redis.pcall(unpack(ARGV, at + 1, at + count))
    if type(reply) == 'table' and reply['err'] then
      errors[#errors + 1] = n
      errors[#errors + 1] = reply['err']
    end
    at = at + 1 + count
  end
  return errors
end
