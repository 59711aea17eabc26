-- POST /api/cancel: marks a message of the session as cancelled, if it is
-- still queued or streaming. The lease holder's lock is marked (owner
-- followed by "#cancelled", its TTL kept), so the worker's next append, which
-- reads the lock anyway, is refused and it ends the stream as cancelled; a
-- worker that has not started yet finds stream:cancel:{t}M in start.lua.
-- KEYS: 1 stream:session:{t}S  2 stream:meta:{t}M  3 stream:cancel:{t}M  4 stream:lock:{t}M
-- ARGV: 1 S  2 U (may be empty)  3 mark TTL s
-- Returns {"ok"|"forbidden"|"not_found"|"finished", status}.
local owner = redis.call('HGET', KEYS[1], 'userId')
if not owner then
  return {'not_found', ''}
end
if ARGV[2] ~= '' and owner ~= ARGV[2] then
  return {'forbidden', ''}
end
local meta = redis.call('HMGET', KEYS[2], 'session_id', 'status')
if meta[1] ~= ARGV[1] then
  return {'not_found', ''}
end
if meta[2] ~= 'queued' and meta[2] ~= 'streaming' then
  return {'finished', meta[2]}
end
redis.call('SET', KEYS[3], '1', 'EX', ARGV[3])
local holder = redis.call('GET', KEYS[4])
if holder and not holder:find('#cancelled', 1, true) then
  redis.call('SET', KEYS[4], holder .. '#cancelled', 'KEEPTTL')
end
return {'ok', meta[2]}
