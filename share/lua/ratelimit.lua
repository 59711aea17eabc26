-- One fixed-window counter: a new WebSocket counted against its user's, or
-- its address's, limit. One key, so each counter is one call wherever its
-- slot lives; the relay counts the user first and the address only if the
-- user is under its limit.
-- KEYS: 1 ratelimit:ws:{U}:<window> or ratelimit:wsaddr:{A}:<window>
-- ARGV: 1 the limit  2 ms left in the window
-- Returns 'ok', or 'over' when this one is past the limit.
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if used > tonumber(ARGV[1]) then return 'over' end
return 'ok'
