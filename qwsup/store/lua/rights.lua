-- Whether this user may run the commands that read the server's configuration (see
-- server.py), asked of the server's ACL without running them: a command the ACL
-- refuses would land in its ACL LOG, and qwsup sends none it knows will be refused.
-- No KEYS.
-- ARGV[1] = the key prefix ("<namespace>:" or ""), as every script gets; unused here
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- Returns {INFO, CONFIG GET}, each 1 (allowed), 0 (refused by the ACL) or -1 (no such
-- command: renamed or disabled); {-2, -2} before Redis 7, which cannot tell.
if redis.acl_check_cmd == nil then
  return {-2, -2}
end

local function may(...)
  local ok, allowed = pcall(redis.acl_check_cmd, ...)
  if not ok then
    return -1
  end
  if allowed then
    return 1
  end
  return 0
end

return {may('info', 'memory'), may('config', 'get', 'maxmemory-policy')}
