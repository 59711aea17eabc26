-- recoverd, for a message in flight whose job no stream entry names any more
-- (XADD MAXLEN trimmed it while it was pending or queued): if no worker holds
-- its lease and it has not ended, a new job resumes it from the chunks
-- written. The prompt comes from the session's history: the user's message
-- is its last item (one reply at a time per session), with the same
-- created_at as the message. The job's model is lost with its entry: the
-- worker's default serves. Without the prompt, the lease is taken for
-- recoverd, which ends the reply with an error.
-- KEYS: 1 jobs:{t}  2 stream:meta:{t}M  3 stream:lock:{t}M  4 stream:chunks:{t}M  5 chat:history:{t}S
-- ARGV: 1 M  2 recoverd's lease owner name  3 lease ms
-- Returns {"requeued", resume_from}, {"no_prompt", chunks written} with the
-- lease taken, or {"leased"|"ended", 0}.
local meta = redis.call('HMGET', KEYS[2], 'status', 'session_id', 'user_id', 'created_at')
if meta[1] ~= 'queued' and meta[1] ~= 'streaming' then
  return {'ended', 0}
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {'leased', 0}
end
local n = redis.call('LLEN', KEYS[4])
local prompt
local last = redis.call('LINDEX', KEYS[5], -1)
if last then
  local ok, item = pcall(cjson.decode, last)
  if ok and type(item) == 'table' and item.role == 'user' and type(item.content) == 'string' and
      item.created_at == tonumber(meta[4]) then
    prompt = item.content
  end
end
if not prompt then
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
  return {'no_prompt', n}
end
redis.call('XADD', KEYS[1], '*', 'message_id', ARGV[1], 'session_id', meta[2],
  'user_id', meta[3], 'model', '', 'prompt', prompt, 'resume_from', n)
redis.call('HINCRBY', KEYS[2], 'requeues', 1)
return {'requeued', n}
