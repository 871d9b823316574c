-- fields: the job hash's own fields (docs/protocol.md, "A job's hash"), named here
-- and only here for the scripts, as qwsup/store/keys.py names them for Python
-- (tests/test_lua_keys.py ties the two, field for field).
local F = {
  ARGS = 'qwsup:args',
  ATTEMPTS = 'qwsup:attempts',
  CANCEL = 'qwsup:cancel',
  CAPPED = 'qwsup:capped',
  CRON = 'qwsup:cron',
  ENQUEUED_AT = 'qwsup:enqueued_at',
  FAILED_AT = 'qwsup:failed_at',
  FINISHED_AT = 'qwsup:finished_at',
  LAST_ERROR = 'qwsup:last_error',
  PROGRESS = 'qwsup:progress',
  PROGRESS_AT = 'qwsup:progress_at',
  PROGRESS_MSG = 'qwsup:progress_msg',
  QUEUE = 'qwsup:queue',
  RESULT = 'qwsup:result',
  RESULT_TYPE = 'qwsup:result_type',
  STARTED_AT = 'qwsup:started_at',
  STATE = 'qwsup:state',
  TASK = 'qwsup:task',
  TICK = 'qwsup:tick',
  TRACEBACK = 'qwsup:traceback',
  UNIQUE = 'qwsup:unique',
  WAITED = 'qwsup:waited',
  WORKER = 'qwsup:worker',
}
