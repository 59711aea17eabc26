-- Appends one chunk to each of several messages (a worker sends the tokens
-- that fall due at the same moment in one call). For each message: only the
-- lease holder may write (fencing), never after a cancel, and only at the
-- index the caller expects, so a chunk can be neither lost nor written twice.
-- The chunk frame is published in the same step, so what is cached and what
-- is broadcast cannot disagree; with an empty channel it is not published
-- (REDIS_WAIT_REPLICAS: the worker publishes it once a replica has the chunk).
-- One message's failure does not touch the others.
-- This runs once per token, so it makes three calls and no more: the lease
-- is renewed by the worker on a timer (renew.lua), a cancel marks the lock
-- (cancel.lua), and the count is what RPUSH returns (total_chunks is written
-- by finish.lua).
-- KEYS: per message, 2: stream:chunks:{t}M stream:lock:{t}M
-- ARGV: per message, 5: owner index content channel ("": no publish) frame
-- Returns, per message, the new chunk count or "lease", "cancelled",
-- "index:<count>", "error:<message>".
local function append(kchunks, klock, owner, index, content, channel, frame)
  local holder = redis.call('GET', klock)
  if holder ~= owner then
    return holder == owner .. '#cancelled' and 'cancelled' or 'lease'
  end
  local n = redis.call('RPUSH', kchunks, content)
  if n ~= tonumber(index) + 1 then
    -- a retry of an append that was applied, or a confused caller: take
    -- the chunk back (the script is atomic: nobody saw it)
    redis.call('RPOP', kchunks)
    return 'index:' .. (n - 1)
  end
  if channel ~= '' then
    redis.call('PUBLISH', channel, frame)
  end
  return n
end

local out = {}
for m = 0, #KEYS / 2 - 1 do
  local k, a = m * 2, m * 5
  local ok, res = pcall(append, KEYS[k + 1], KEYS[k + 2], ARGV[a + 1], ARGV[a + 2],
                        ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
  if ok then
    out[m + 1] = res
  else
    out[m + 1] = 'error:' .. tostring(type(res) == 'table' and res.err or res)
  end
end
return out
