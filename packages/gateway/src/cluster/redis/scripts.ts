import type { Redis } from 'ioredis';

/**
 * The Lua scripts of the Redis bus (docs/scale-out.md): each runs atomically
 * in Redis, so presence changes and the join/leave markers they publish are
 * ordered exactly among the notifications on the bus channel.
 */

/** Field helpers shared by the scripts: liveness of a node (cached per call), and dead-field cleanup. */
const LUA_LIVE = `
local prefix = ARGV[1]
local self = ARGV[2]
local cache = {}
local function live(node)
  local v = cache[node]
  if v == nil then
    v = redis.call('EXISTS', prefix .. 'n:' .. node) == 1
    cache[node] = v
  end
  return v
end
-- Sums c:<node> of live nodes other than self; deletes every field of dead nodes.
local function scan(key, browser)
  local others, own, holders, r = 0, 0, {}, false
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    if f == 'r' then
      r = v == '1'
    else
      local node = string.match(f, '^[cb]:([^:]+)')
      if node == nil or not live(node) then
        redis.call('HDEL', key, f)
      elseif string.sub(f, 1, 1) == 'c' then
        if node == self then own = tonumber(v) else others = others + tonumber(v) end
      elseif browser ~= nil and node ~= self and string.sub(f, #node + 4) == browser then
        holders[#holders + 1] = node
      end
    end
  end
  return others, own, holders, r
end
`;

/** ARGV prefix, self → {connections on other nodes, registered (0/1)}. */
const LUA_QUERY = `${LUA_LIVE}
local others, own, _, r = scan(KEYS[1], nil)
local reg = 0
if r and others + own > 0 then reg = 1 end
return {others, reg}
`;

/** ARGV prefix, self, count: this node's connection count of the user; clears `r` when the user has none left anywhere, or is new everywhere. */
const LUA_COUNT = `${LUA_LIVE}
local others, own = scan(KEYS[1], nil)
local n = tonumber(ARGV[3])
if others == 0 and (n == 0 or own == 0) then redis.call('HDEL', KEYS[1], 'r') end
if n == 0 then redis.call('HDEL', KEYS[1], 'c:' .. self) else redis.call('HSET', KEYS[1], 'c:' .. self, n) end
return 0
`;

/**
 * ARGV prefix, self, browser, userId, channel: the browser has a tab here.
 * Returns the other live nodes holding it; when there are any, publishes
 * `s` in the same atomic step, so every node orders it exactly among the
 * notifications on the channel.
 */
const LUA_BROWSER = `${LUA_LIVE}
local browser = ARGV[3]
redis.call('HSET', KEYS[1], 'b:' .. self .. ':' .. browser, '1')
local _, _, holders = scan(KEYS[1], browser)
if #holders > 0 then redis.call('PUBLISH', ARGV[5], 's ' .. self .. ' ' .. ARGV[4] .. '\\n' .. browser) end
return holders
`;

/** ARGV prefix, self, browser, userId, channel: the browser's last tab here closed; `l` published when other nodes hold it. */
const LUA_BROWSER_GONE = `${LUA_LIVE}
local browser = ARGV[3]
redis.call('HDEL', KEYS[1], 'b:' .. self .. ':' .. browser)
local _, _, holders = scan(KEYS[1], browser)
if #holders > 0 then redis.call('PUBLISH', ARGV[5], 'l ' .. self .. ' ' .. ARGV[4] .. '\\n' .. browser) end
return #holders
`;

/** ARGV prefix, node, ttl: lease a free id slot (searching from a rotating start); -1 when all are taken. */
const LUA_SLOT = `
local start = redis.call('INCR', ARGV[1] .. 'slot')
for i = 0, ${1024 - 1} do
  local s = (start + i) % 1024
  if redis.call('SET', ARGV[1] .. 'slot:' .. s, ARGV[2], 'NX', 'PX', ARGV[3]) then return s end
end
return -1
`;

/** ARGV prefix, node, slot, ttl: 1 when the node key and the slot lease were both still ours and are refreshed. */
const LUA_REFRESH = `
local slotKey = ARGV[1] .. 'slot:' .. ARGV[3]
if redis.call('GET', slotKey) ~= ARGV[2] then return 0 end
if not redis.call('SET', ARGV[1] .. 'n:' .. ARGV[2], '1', 'PX', ARGV[4], 'XX') then return 0 end
redis.call('PEXPIRE', slotKey, ARGV[4])
return 1
`;

/** KEYS lease; ARGV node, ttl: 1 when this node holds (or just took) the lease. */
const LUA_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
`;

/** A command connection with the scripts defined ({@link defineBusScripts}). */
export type BusScripts = Redis & {
  pgQuery(key: string, prefix: string, self: string): Promise<[number, number]>;
  pgCount(key: string, prefix: string, self: string, count: number): Promise<number>;
  pgBrowser(key: string, prefix: string, self: string, browser: string, userId: number, channel: string): Promise<string[]>;
  pgBrowserGone(key: string, prefix: string, self: string, browser: string, userId: number, channel: string): Promise<number>;
  pgLease(key: string, node: string, ttlMs: number): Promise<number>;
  pgSlot(prefix: string, node: string, ttlMs: number): Promise<number>;
  pgRefresh(prefix: string, node: string, slot: number, ttlMs: number): Promise<number>;
};


/** Define every script on the command connection (once, before connecting). */
export function defineBusScripts(cmd: Redis): BusScripts {
  cmd.defineCommand('pgQuery', { numberOfKeys: 1, lua: LUA_QUERY });
  cmd.defineCommand('pgCount', { numberOfKeys: 1, lua: LUA_COUNT });
  cmd.defineCommand('pgBrowser', { numberOfKeys: 1, lua: LUA_BROWSER });
  cmd.defineCommand('pgBrowserGone', { numberOfKeys: 1, lua: LUA_BROWSER_GONE });
  cmd.defineCommand('pgLease', { numberOfKeys: 1, lua: LUA_LEASE });
  cmd.defineCommand('pgSlot', { numberOfKeys: 0, lua: LUA_SLOT });
  cmd.defineCommand('pgRefresh', { numberOfKeys: 0, lua: LUA_REFRESH });
  return cmd as BusScripts;
}
