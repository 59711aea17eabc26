-- A relay node no longer holds some sessions: its last socket of each left,
-- or the node itself is gone (restarted, drained, or dead). Each session
-- leaves sessions:node:{N}; a session that no other node holds also leaves
-- sessions:active and sessions:user:{U}, and its claim (claim.lua) goes too
-- if no message was ever posted to it.
-- KEYS: 1 sessions:node:{N}  2 sessions:active  3 nodes:ws
-- ARGV: 1 N  2 key prefix  3.. session ids; none: every session of N, and
--       the node's set goes away.
-- The user and other nodes' sets are named here from the prefix, so this
-- script is not Redis Cluster safe (doc/redis.md, "One Redis").
local node, prefix = ARGV[1], ARGV[2]
local sessions = {}
if #ARGV > 2 then
  for i = 3, #ARGV do sessions[#sessions + 1] = ARGV[i] end
else
  sessions = redis.call('SMEMBERS', KEYS[1])
end
local others = {}
for _, n in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  if n ~= node then others[#others + 1] = prefix .. 'sessions:node:{' .. n .. '}' end
end
local gone = 0
for _, s in ipairs(sessions) do
  redis.call('SREM', KEYS[1], s)
  local held = false
  for _, k in ipairs(others) do
    if redis.call('SISMEMBER', k, s) == 1 then held = true break end
  end
  if not held then
    local user = redis.call('HGET', KEYS[2], s)
    redis.call('HDEL', KEYS[2], s)
    if user then redis.call('SREM', prefix .. 'sessions:user:{' .. user .. '}', s) end
    local ksession = prefix .. 'stream:session:{' .. s .. '}'
    if redis.call('HEXISTS', ksession, 'messageId') == 0 then redis.call('DEL', ksession) end
    gone = gone + 1
  end
end
if #ARGV == 2 then redis.call('DEL', KEYS[1]) end
return gone
