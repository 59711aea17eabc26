-- A relay node no longer holds some sessions: its last socket of each left,
-- or the node itself is gone (restarted, drained, or dead). Each session
-- leaves sessions:node:{N}; a session that no other node holds also leaves
-- sessions:active and sessions:user:{U}, and its claim (claim.lua) goes too
-- if no message was ever posted to it.
-- KEYS: 1 sessions:node:{N}  2 sessions:active  3 nodes:ws
-- ARGV: 1 N  2 key prefix  3.. session ids; none: every session of N, and
--       the node's set goes away.
-- The user and other nodes' sets are named here from the prefix, so this
-- script is not Redis Cluster safe (doc/redis.md, "Partitions").
local node, prefix = ARGV[1], ARGV[2]

-- stream:session:{t}S, t the session's partition's tag: CRC16 (XMODEM)
-- of S modulo 16, and the tags of src/common/keys.c (doc/redis.md,
-- "Partitions"; t/89 fails if these two drift apart)
local TAGS = {'u0', '3', 'dj', 'j', 'd2', '2', 'uh', 'k', 'ly', '1', 'uv', 'u', '9s', '0', 'dt', 't'}
local function session_key(s)
  local crc = 0
  for i = 1, #s do
    crc = bit.bxor(crc, bit.lshift(string.byte(s, i), 8))
    for _ = 1, 8 do
      if bit.band(crc, 0x8000) ~= 0 then
        crc = bit.band(bit.bxor(bit.lshift(crc, 1), 0x1021), 0xFFFF)
      else
        crc = bit.band(bit.lshift(crc, 1), 0xFFFF)
      end
    end
  end
  return prefix .. 'stream:session:{' .. TAGS[crc % 16 + 1] .. '}' .. s
end
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
    local ksession = session_key(s)
    if redis.call('HEXISTS', ksession, 'messageId') == 0 then redis.call('DEL', ksession) end
    gone = gone + 1
  end
end
if #ARGV == 2 then redis.call('DEL', KEYS[1]) end
return gone
