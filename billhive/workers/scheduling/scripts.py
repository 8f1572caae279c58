"""The dispatcher's Lua scripts: every state change of the scheduler is one atomic script.

Redis runs a script without interleaving any other command, so the limit check and the
consumption of every bucket of a call, the choice of the tenant and the removal of its head
job happen as one step, whatever number of worker processes pop at the same time. Times come
from Redis ``TIME`` inside the script (one clock for every machine); tests and simulations
may pass an explicit time instead.

Every script receives the same first four arguments:
``ARGV[1]`` dispatcher key prefix (``billhive:d:``), ``ARGV[2]`` tenant queue key prefix
(``rq:queue:billhive:t:``), ``ARGV[3]`` RQ job key prefix (``rq:job:``), ``ARGV[4]`` the
time to use, or ``""`` for Redis ``TIME``. Keys are built inside the scripts (a tenant's
queue and a job's buckets are only known there), so the dispatcher needs one Redis server,
not a cluster.

Times leave a script as strings formatted ``%.6f``: Redis turns Lua numbers into integers
and Lua's own ``tostring`` keeps only 14 digits (0.1 ms at today's epoch).
"""

from __future__ import annotations

#: Field of the RQ job hash that holds the job's buckets (see buckets.encode_buckets).
BUCKETS_FIELD = "billhive_buckets"
#: Field of the RQ job hash: the job may not start before this time (a retry's backoff).
NOT_BEFORE_FIELD = "billhive_not_before"
#: Field of the RQ job hash: the job's place in its tenant's order, "seq TAB kind TAB key
#: TAB exclusive" (kind "r" read or "w" write; key "" none, "*" the whole tenant).
ORDER_FIELD = "billhive_order"
#: The lanes, most urgent first; a tenant's queue of each lane is an RQ queue of its own.
LANES = ("interactive", "bulk", "background")

_PRELUDE = """
local P, QP, JP = ARGV[1], ARGV[2], ARGV[3]
local function fmt(x) return string.format('%.6f', x) end
local function clock()
  if ARGV[4] ~= '' then return tonumber(ARGV[4]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local now = clock()
local LANES = {'interactive', 'bulk', 'background'}

-- A tenant's queue for a lane: RQ's list of that lane's queue.
local function lane_queue(t, lane)
  if lane == 'interactive' then return QP .. t end
  return QP .. t .. ':' .. lane
end

-- Put a tenant into a lane's ready set if it has work there and may run: not paused, no
-- exclusive job of that lane in flight, not already ready or waiting for its buckets. Its
-- start tag is the lane's virtual clock, or its own finish tag when that is later
-- (start-time fair queuing), so an idle tenant starts at once and a busy one waits one
-- turn behind everyone else.
local function activate(t, lane)
  if redis.call('SISMEMBER', P .. 'paused', t) == 1 then return 0 end
  if redis.call('EXISTS', P .. 'busy:' .. t .. ':' .. lane) == 1 then return 0 end
  if redis.call('LLEN', lane_queue(t, lane)) == 0 then return 0 end
  if redis.call('ZSCORE', P .. 'ready:' .. lane, t) then return 0 end
  if redis.call('ZSCORE', P .. 'delayed:' .. lane, t) then return 0 end
  local v = tonumber(redis.call('GET', P .. 'vclock:' .. lane) or '0')
  local f = tonumber(redis.call('HGET', P .. 'finish:' .. lane, t) or '0')
  if f > v then v = f end
  redis.call('ZADD', P .. 'ready:' .. lane, fmt(v), t)
  redis.call('LPUSH', P .. 'wake', '1')
  redis.call('LTRIM', P .. 'wake', 0, 63)
  return 1
end

local function activate_all(t)
  for _, lane in ipairs(LANES) do activate(t, lane) end
end

-- A job's place in its tenant's order: {seq, kind ('r' or 'w'), key, exclusive}, or nil
-- for a job pushed without one.
local function order_of(job)
  local meta = redis.call('HGET', JP .. job, '__ORDER__')
  if not meta then return nil end
  local seq, kind, key, x = string.match(meta, '^(%-?%d+)\t([rw])\t(.-)\t([01])$')
  if not seq then return nil end
  return {tonumber(seq), kind, key, x == '1'}
end

-- The lowest sequence number in a set of unfinished writes, or nil.
local function earliest(zkey)
  local e = redis.call('ZRANGE', zkey, 0, 0, 'WITHSCORES')
  if #e == 0 then return nil end
  return tonumber(e[2])
end

-- The ordering rule (docs/scheduling.md): a read waits for every earlier unfinished write
-- of its tenant (of its key and the whole tenant, with a key); a write waits for earlier
-- unfinished writes of its key and of the whole tenant (all of them, for a whole-tenant
-- write); nothing waits for reads.
local function order_allows(t, o)
  if not o then return true end
  local seq, kind, key = o[1], o[2], o[3]
  if kind == 'r' and key == '' then
    local any = earliest(P .. 'w:' .. t)
    return any == nil or any > seq
  end
  if kind == 'w' and key == '*' then
    local any = earliest(P .. 'w:' .. t)
    return any == nil or any >= seq
  end
  local own = earliest(P .. 'wk:' .. t .. ':' .. key)
  local all = earliest(P .. 'wk:' .. t .. ':*')
  if kind == 'r' then
    return (own == nil or own > seq) and (all == nil or all > seq)
  end
  return (own == nil or own >= seq) and (all == nil or all > seq)
end

-- A write is unfinished from its push until its job ends for good.
local function finish_write(t, job)
  local key = redis.call('HGET', P .. 'wkey:' .. t, job)
  if not key then return end
  redis.call('ZREM', P .. 'w:' .. t, job)
  redis.call('ZREM', P .. 'wk:' .. t .. ':' .. key, job)
  redis.call('HDEL', P .. 'wkey:' .. t, job)
end

-- A job in flight: {tenant, lane, token}; the token is "<job id>|<dispatch number>".
local function flight_of(job)
  local f = redis.call('HGET', P .. 'fl', job)
  if not f then return nil end
  local t, lane, token = string.match(f, '^(.-)\t(.-)\t(.*)$')
  return {t, lane, token}
end

local function end_flight(job, t, lane)
  redis.call('HDEL', P .. 'fl', job)
  redis.call('ZREM', P .. 'leases', job)
  local busy = P .. 'busy:' .. t .. ':' .. lane
  if redis.call('GET', busy) == job then redis.call('DEL', busy) end
end

-- The time until which every dispatch is held (0: none); read once per script.
local held = nil
local function current_hold()
  if held == nil then held = tonumber(redis.call('GET', P .. 'hold') or '0') end
  return held
end

-- Hold every dispatch until ``untl`` (a later hold already in place is kept).
local function hold_until(untl)
  local current = current_hold()
  if current >= untl then return fmt(current) end
  redis.call('SET', P .. 'hold', fmt(untl), 'PX', math.ceil((untl - now) * 1000) + 1000)
  held = untl
  return fmt(untl)
end
"""

#: What POP and RESTAMP share: a job's buckets, their check and their consumption.
_BUCKETS = """
-- The buckets of a job: lines "key TAB limit TAB period TAB shared". A bucket is
-- {key, limit, window, shared}: shared (key-wide) limits keep ``headroom`` calls free,
-- every window is the period plus the jitter allowance ``pad``.
local function parse(spec, pad, headroom)
  local out = {}
  for line in string.gmatch(spec, '[^\\n]+') do
    local key, limit, period, shared = string.match(line, '^(.-)\\t(%d+)\\t([%d.]+)\\t([01])$')
    if key then
      local n = tonumber(limit)
      if shared == '1' then n = math.max(1, n - headroom) end
      out[#out + 1] = {key, n, tonumber(period) + pad, shared == '1'}
    end
  end
  return out
end

-- Sliding log per bucket: call times inside (now - window, now]. Returns nil when every
-- bucket has room, else the time all blocked buckets free and whether only shared (key
-- wide) buckets block. A hold (see HOLD) blocks every call, like a shared bucket.
local function check(buckets)
  local free, own = nil, false
  local hold = current_hold()
  if hold > now then free = hold end
  for _, b in ipairs(buckets) do
    local log = P .. 'b:' .. b[1]
    redis.call('ZREMRANGEBYSCORE', log, '-inf', fmt(now - b[3]))
    local n = redis.call('ZCARD', log)
    local f = nil
    if n >= b[2] then
      local e = redis.call('ZRANGE', log, n - b[2], n - b[2], 'WITHSCORES')
      f = tonumber(e[2]) + b[3] + 0.000001
    end
    local pen = tonumber(redis.call('GET', P .. 'pen:' .. b[1]) or '0')
    if pen > now and (f == nil or pen > f) then f = pen end
    if f then
      if free == nil or f > free then free = f end
      if not b[4] then own = true end
    end
  end
  return free, not own
end

-- Record the job's call at ``at`` (now, or a reserved time at most one window ahead).
-- The log outlives its latest entry's window even when a later call, stamped nearer
-- now, sets the expiry: hence one window more than that entry needs.
local function consume(buckets, job, at)
  for _, b in ipairs(buckets) do
    local log = P .. 'b:' .. b[1]
    redis.call('ZADD', log, fmt(at), fmt(at) .. '|' .. job)
    redis.call('PEXPIRE', log, math.ceil((at - now + 2 * b[3]) * 1000) + 1000)
  end
end

-- The job's latest entry in a log: member and time, or nil.
local function own_entry(log, job)
  local suffix = '|' .. job
  local scored = redis.call('ZREVRANGE', log, 0, -1, 'WITHSCORES')
  for i = 1, #scored, 2 do
    if string.sub(scored[i], -#suffix) == suffix then
      return scored[i], tonumber(scored[i + 1])
    end
  end
  return nil, nil
end
"""

#: Add a job to its tenant's lane queue (or at its head) and make the tenant ready.
#: ARGV[5] tenant, ARGV[6] job id, ARGV[7] "1" for the head, ARGV[8] "1" for a repair (the
#: reconciler's: a job already queued or in flight is left alone, returns 0), ARGV[9] lane,
#: ARGV[10] kind ("r" read, "w" write, "" to keep the job's own, or to make a job without
#: one a whole-tenant write: the strictest order), ARGV[11] ordering key
#: ("" none, "*" whole tenant), ARGV[12] "1" for a job that runs alone in its lane.
#: The job's sequence number in its tenant's order is drawn here: the next one at the
#: tail, a lower one than any at the head. A write joins the tenant's unfinished writes.
#: A job in flight (a retry, a requeue) goes back to the head of the lane it ran in and
#: ends its flight but stays unfinished: retries never overtake later jobs. Returns 2 for
#: that case, else 1.
PUSH = (
    _PRELUDE
    + """
local t, job, front, repair = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local lane, kind, key, x = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local f = flight_of(job)
if f then
  if repair == '1' then return 0 end
  local q = lane_queue(f[1], f[2])
  redis.call('LREM', q, 0, job)
  redis.call('LPUSH', q, job)
  end_flight(job, f[1], f[2])
  activate_all(f[1])
  return 2
end
local q = lane_queue(t, lane)
if repair == '1' and redis.call('LPOS', q, job) then
  activate(t, lane)
  return 0
end
if kind == '' then
  local o = order_of(job)
  if o then kind, key, x = o[2], o[3], o[4] and '1' or '0' else kind, key, x = 'w', '*', '0' end
end
local seq
if front == '1' then
  seq = redis.call('DECR', P .. 'ls:' .. t)
else
  seq = redis.call('INCR', P .. 'hs:' .. t)
end
redis.call('HSET', JP .. job, '__ORDER__', seq .. '\t' .. kind .. '\t' .. key .. '\t' .. x)
if kind == 'w' then
  redis.call('ZADD', P .. 'w:' .. t, seq, job)
  redis.call('ZADD', P .. 'wk:' .. t .. ':' .. key, seq, job)
  redis.call('HSET', P .. 'wkey:' .. t, job, key)
end
if front == '1' then
  redis.call('LPUSH', q, job)
else
  redis.call('RPUSH', q, job)
end
activate(t, lane)
return 1
"""
)

#: End a dispatch once its job ended for good: ARGV[5] tenant (unused), ARGV[6] token.
#: Only the matching token ends it (a stale release after a retry was dispatched again
#: must not end the new flight). A write is finished: the calls waiting for it may start.
#: Returns 1/0.
RELEASE = (
    _PRELUDE
    + """
local token = ARGV[6]
local job = string.match(token, '^(.*)|[0-9]+$')
local f = job and flight_of(job)
if not f or f[3] ~= token then return 0 end
end_flight(job, f[1], f[2])
finish_write(f[1], job)
activate_all(f[1])
return 1
"""
)

#: Recovery: put the in-flight job of token ARGV[6] back at the head of its lane's queue
#: (moving it there if RQ re-queued it elsewhere) and end the flight; it stays unfinished.
REQUEUE_HEAD = (
    _PRELUDE
    + """
local token = ARGV[6]
local job = string.match(token, '^(.*)|[0-9]+$')
local f = job and flight_of(job)
if not f or f[3] ~= token then return 0 end
local q = lane_queue(f[1], f[2])
redis.call('LREM', q, 0, job)
redis.call('LPUSH', q, job)
end_flight(job, f[1], f[2])
activate_all(f[1])
return 1
"""
)

#: A job of tenant ARGV[5] taken away while queued (cancelled, its tenant deleted): job
#: ARGV[6] leaves every lane queue and the unfinished writes, so nothing waits for it.
DISCARD = (
    _PRELUDE
    + """
local t, job = ARGV[5], ARGV[6]
for _, lane in ipairs(LANES) do redis.call('LREM', lane_queue(t, lane), 0, job) end
local f = flight_of(job)
if f then end_flight(job, f[1], f[2]) end
finish_write(t, job)
activate_all(t)
return 1
"""
)

#: The jobs that may join an exclusive job in flight (a coalesced batch): ARGV[5] tenant,
#: ARGV[6] lane, ARGV[7] the job in flight, ARGV[8] at most this many. The exclusive jobs
#: queued right behind it in its lane, in order, up to the first that is not exclusive or
#: that the ordering rule holds back for an unfinished write outside the batch (the writes
#: order_allows looks at: of its key and of the whole tenant; every earlier write, for a
#: whole-tenant write or a read without key): what joins is ordered exactly as if it ran
#: after the jobs ahead of it.
FOLLOWERS = (
    _PRELUDE
    + """
local t, lane, head, limit = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local batch = {[head] = true}
local size = 1
local taken = {}
if limit <= 0 then return taken end
-- True when a write earlier than seq in zkey is not in the batch. Every member of the
-- batch may be among them, so size + 1 entries settle it.
local function outside(zkey, seq)
  local earlier = redis.call('ZRANGEBYSCORE', zkey, '-inf', '(' .. seq, 'LIMIT', 0, size + 1)
  for _, other in ipairs(earlier) do
    if not batch[other] then return true end
  end
  return false
end
for _, job in ipairs(redis.call('LRANGE', lane_queue(t, lane), 0, limit - 1)) do
  local o = order_of(job)
  if not o or not o[4] then break end
  local seq, kind, key = o[1], o[2], o[3]
  local blocked
  if (kind == 'r' and key == '') or (kind == 'w' and key == '*') then
    blocked = outside(P .. 'w:' .. t, seq)
  else
    blocked = outside(P .. 'wk:' .. t .. ':' .. key, seq) or outside(P .. 'wk:' .. t .. ':*', seq)
  end
  if blocked then break end
  batch[job] = true
  size = size + 1
  taken[#taken + 1] = job
end
return taken
"""
)

#: Pause (ARGV[6] == "1") or resume (else) tenant ARGV[5]. A paused tenant leaves every
#: lane's ready and delayed sets; its queues and any job in flight are untouched.
SET_PAUSED = (
    _PRELUDE
    + """
local t, pause = ARGV[5], ARGV[6]
if pause == '1' then
  redis.call('SADD', P .. 'paused', t)
  for _, lane in ipairs(LANES) do
    redis.call('ZREM', P .. 'ready:' .. lane, t)
    redis.call('ZREM', P .. 'delayed:' .. lane, t)
    redis.call('HDEL', P .. 'held:' .. lane, t)
  end
  return 1
end
redis.call('SREM', P .. 'paused', t)
activate_all(t)
return 1
"""
)

#: Make tenant ARGV[5] ready in every lane where it has work and nothing stops it
#: (repairs a queue that something other than the dispatcher pushed to, such as
#: `rq requeue`). Returns how many lanes it was added to.
ACTIVATE = (
    _PRELUDE
    + """
local added = 0
for _, lane in ipairs(LANES) do added = added + activate(ARGV[5], lane) end
return added
"""
)

#: Slow a bucket down after a 429: ARGV[5] bucket key, ARGV[6] seconds. The bucket admits
#: nothing until then; a longer penalty already in place is kept.
PENALIZE = (
    _PRELUDE
    + """
local key, seconds = P .. 'pen:' .. ARGV[5], tonumber(ARGV[6])
local untl = now + seconds
local current = tonumber(redis.call('GET', key) or '0')
if current >= untl then return fmt(current) end
redis.call('SET', key, fmt(untl), 'PX', math.ceil(seconds * 1000) + 1000)
return fmt(untl)
"""
)

#: Hold job ARGV[5] back for ARGV[6] seconds (a retry's backoff). While it is its tenant's
#: head job, the tenant waits in the delayed set; other tenants go on. Returns the time.
DEFER = (
    _PRELUDE
    + """
local untl = now + tonumber(ARGV[6])
redis.call('HSET', JP .. ARGV[5], '__NOT_BEFORE__', fmt(untl))
return fmt(untl)
"""
)

#: Move a dispatched job's entries in its bucket logs to the current time, just before its
#: call is sent. Between the pop and the send lie a few milliseconds of job start-up whose
#: length varies with load; Billbee counts arrivals, so the logs should hold send times.
#: Only ever moves an entry later, which keeps every window within its limit as long as
#: the entry is still inside its window: the calls admitted meanwhile counted it. An entry
#: that has left its window (a start-up longer than the period: a cold worker, a stalled
#: machine) no longer counted for anyone, so its call needs a slot again: it gets one now
#: if the bucket has room, else one is reserved for when the bucket frees.
#: ARGV[5] job id, ARGV[6] jitter allowance, ARGV[7] shared headroom (as for POP).
#: Returns {moved, wait}: how many entries moved to now, or, when the job holds a slot
#: that is not free yet (reserved by POP's lead or just now), nothing moved and the
#: seconds until it is: send no earlier.
RESTAMP = (
    _PRELUDE
    + _BUCKETS
    + """
local job = ARGV[5]
local hold = current_hold()
if hold > now then return {0, fmt(hold - now)} end
local buckets = parse(redis.call('HGET', JP .. job, '__BUCKETS__') or '',
  tonumber(ARGV[6]), tonumber(ARGV[7]))
local wait, stale, entries = 0, {}, {}
for i, b in ipairs(buckets) do
  local log = P .. 'b:' .. b[1]
  local m, at = own_entry(log, job)
  if at and at > now and at - now > wait then wait = at - now end
  if not at or at <= now - b[3] then stale[#stale + 1] = b end
  entries[i] = {log, m, at}
end
if wait > 0 then return {0, fmt(wait)} end
if #stale > 0 then
  local free = check(stale)  -- its trim drops the job's own expired entries
  if free then
    consume(stale, job, free)
    return {0, fmt(free - now)}
  end
end
local moved = 0
for i, b in ipairs(buckets) do
  local log, m, at = entries[i][1], entries[i][2], entries[i][3]
  if not at or now > at then
    if m then redis.call('ZREM', log, m) end
    consume({b}, job, now)
    moved = moved + 1
  end
end
return {moved, '0'}
"""
)

#: Hold every dispatch until ARGV[5] seconds from now (a longer hold is kept): after Redis
#: was unreachable or lost data, the bucket logs may lack calls Billbee still counts.
#: Returns the time the hold ends.
HOLD = (
    _PRELUDE
    + """
return hold_until(now + tonumber(ARGV[5]))
"""
)

#: Put calls made before Redis lost its data back into one bucket's log, so limits with
#: long windows (an order's 6 reads a minute, its invoice every 5 minutes) hold across
#: the loss. ARGV[5] the bucket line (see buckets.encode_bucket), then pairs of ARGV:
#: time, job id. A job that has an entry in the log already is skipped. Returns how many
#: entries were added.
REMEMBER = (
    _PRELUDE
    + _BUCKETS
    + """
local b = parse(ARGV[5], 0, 0)[1]
if not b then return 0 end
local log = P .. 'b:' .. b[1]
local added = 0
for i = 6, #ARGV, 2 do
  local at, job = tonumber(ARGV[i]), ARGV[i + 1]
  if at > now - b[3] and not own_entry(log, job) then
    consume({b}, job, at)
    added = added + 1
  end
end
return added
"""
)

#: Choose the next job. ARGV[5] K (candidates tried at most per lane), ARGV[6] jitter
#: allowance in seconds (added to every bucket's period), ARGV[7] headroom: calls kept free
#: in every shared (key-wide) bucket, ARGV[8] lead in seconds: a job whose buckets all free
#: within the lead is dispatched now with its call reserved at the time they free (``at``),
#: so the worker prepares it while the slot is still taken and sends at ``at`` (RESTAMP
#: says when) instead of starting only then; workers waiting for the key-wide window and
#: tenants delayed by their own buckets come back ``lead`` early for the same reason.
#: ARGV[9] the hold after a cold start (see below), ARGV[10] the background lane's share
#: of the dispatches while the other lanes have work, ARGV[11] the bulk lane's share of
#: the rest while the interactive lane has work.
#:
#: Lanes: dispatches are shared between the foreground (interactive, bulk) and the
#: background lane, and within the foreground between interactive and bulk, by start-time
#: fair queuing over the lanes with those weights: a lane with work gets its share, one
#: without leaves its share to the others (no credit for idle time). The lanes are tried
#: in that order; a lane whose candidates cannot start now leaves the dispatch to the next.
#: Within a lane, tenants are served by their own start tags (as ever), and a tenant's
#: head job in that lane starts only when the ordering rule allows it (order_allows).
#:
#: Returns {"go", tenant, job id, token, at, lane} after consuming every bucket of the
#: job at ``at`` (now, or up to ``lead`` later), {"wait", until, now} when nothing may
#: start before ``until`` (``until == now``: more candidates than K were blocked, pop
#: again), or {"idle", "", now} when no tenant has work.
POP = (
    _PRELUDE
    + _BUCKETS
    + """
local K, pad, headroom = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local lead = tonumber(ARGV[8] or '0')
local cold = tonumber(ARGV[9] or '0')
local bg_share = tonumber(ARGV[10] or '0.1')
local bulk_share = tonumber(ARGV[11] or '0.25')

-- No epoch: this Redis holds none of the dispatcher's past (new, or restarted empty), so
-- its bucket logs are empty although Billbee still counts the calls of the last window:
-- hold every call for one window before the first goes out.
if redis.call('EXISTS', P .. 'epoch') == 0 then
  redis.call('SET', P .. 'epoch', fmt(now))
  if cold > 0 then hold_until(now + cold) end
end

-- Tenants whose buckets have freed come back with the start tag they had.
for _, lane in ipairs(LANES) do
  local delayed = P .. 'delayed:' .. lane
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', fmt(now + lead), 'LIMIT', 0, 2 * K)
  for _, t in ipairs(due) do
    redis.call('ZREM', delayed, t)
    local tag = redis.call('HGET', P .. 'held:' .. lane, t) or '0'
    redis.call('HDEL', P .. 'held:' .. lane, t)
    redis.call('ZADD', P .. 'ready:' .. lane, tag, t)
  end
end

-- The lanes in the order their shares say (start-time fair queuing over lanes).
local LV = P .. 'lv'
local function lane_tag(name, v)
  local f = tonumber(redis.call('HGET', LV, name) or '0')
  if f < v then return v end
  return f
end
local function has_work(lane) return redis.call('ZCARD', P .. 'ready:' .. lane) > 0 end
local v_top = tonumber(redis.call('HGET', LV, 'V') or '0')
local v_fg = tonumber(redis.call('HGET', LV, 'Vfg') or '0')
local fg = {}
if has_work('interactive') then fg[#fg + 1] = 'interactive' end
if has_work('bulk') then fg[#fg + 1] = 'bulk' end
if #fg == 2 and lane_tag('bulk', v_fg) < lane_tag('interactive', v_fg) then
  fg = {'bulk', 'interactive'}
end
local order = {}
if #fg > 0 and has_work('background') and lane_tag('bg', v_top) < lane_tag('fg', v_top) then
  order[1] = 'background'
end
for _, lane in ipairs(fg) do order[#order + 1] = lane end
if #order == #fg and has_work('background') then order[#order + 1] = 'background' end

local function charge(lane)
  local group, weight = 'fg', 1 - bg_share
  if lane == 'background' then group, weight = 'bg', bg_share end
  local start = lane_tag(group, v_top)
  redis.call('HSET', LV, group, fmt(start + 1 / weight), 'V', fmt(start))
  if group == 'fg' then
    local w = 1 - bulk_share
    if lane == 'bulk' then w = bulk_share end
    local s = lane_tag(lane, v_fg)
    redis.call('HSET', LV, lane, fmt(s + 1 / w), 'Vfg', fmt(s))
  end
end

for _, lane in ipairs(order) do
  local ready = P .. 'ready:' .. lane
  local cands = redis.call('ZRANGE', ready, 0, K - 1, 'WITHSCORES')
  for i = 1, #cands, 2 do
    local t, tag = cands[i], tonumber(cands[i + 1])
    local q = lane_queue(t, lane)
    local job = redis.call('LINDEX', q, 0)
    if not job or redis.call('SISMEMBER', P .. 'paused', t) == 1
        or redis.call('EXISTS', P .. 'busy:' .. t .. ':' .. lane) == 1 then
      redis.call('ZREM', ready, t)
    elseif redis.call('EXISTS', JP .. job) == 0 then
      redis.call('LPOP', q)  -- deleted while queued, as RQ skips it too
      finish_write(t, job)
    else
      local o = order_of(job)
      if not order_allows(t, o) then
        -- Back when a write of the tenant finishes (RELEASE activates every lane).
        redis.call('ZREM', ready, t)
      else
        local buckets = parse(redis.call('HGET', JP .. job, '__BUCKETS__') or '', pad, headroom)
        local free, shared_only = check(buckets)
        local not_before = tonumber(redis.call('HGET', JP .. job, '__NOT_BEFORE__') or '0')
        if not_before > now then
          if free == nil or not_before > free then free = not_before end
          shared_only = false
        end
        local at = now
        if free ~= nil and free <= now + lead then
          at, free = free, nil
        end
        if free == nil then
          consume(buckets, job, at)
          redis.call('LPOP', q)
          redis.call('ZREM', ready, t)
          local seq = redis.call('INCR', P .. 'seq')
          local token = job .. '|' .. seq
          redis.call('HSET', P .. 'fl', job, t .. '\t' .. lane .. '\t' .. token)
          redis.call('ZADD', P .. 'leases', fmt(now), job)
          if o and o[4] then redis.call('SET', P .. 'busy:' .. t .. ':' .. lane, job) end
          local v = tonumber(redis.call('GET', P .. 'vclock:' .. lane) or '0')
          if tag > v then redis.call('SET', P .. 'vclock:' .. lane, fmt(tag)) end
          redis.call('HSET', P .. 'finish:' .. lane, t, fmt(tag + 1))
          activate(t, lane)  -- more work in this lane: one turn behind the others
          charge(lane)
          return {'go', t, job, token, fmt(at), lane}
        elseif shared_only then
          return {'wait', fmt(free - lead), fmt(now)}
        else
          redis.call('ZREM', ready, t)
          redis.call('ZADD', P .. 'delayed:' .. lane, fmt(free), t)
          redis.call('HSET', P .. 'held:' .. lane, t, fmt(tag))
        end
      end
    end
  end
end
local soonest = nil
for _, lane in ipairs(LANES) do
  if redis.call('ZCARD', P .. 'ready:' .. lane) > 0 then return {'wait', fmt(now), fmt(now)} end
  local d = redis.call('ZRANGE', P .. 'delayed:' .. lane, 0, 0, 'WITHSCORES')
  if #d > 0 and (soonest == nil or tonumber(d[2]) < soonest) then soonest = tonumber(d[2]) end
end
if soonest then return {'wait', fmt(soonest - lead), fmt(now)} end
return {'idle', '', fmt(now)}
"""
)


def _fields(script: str) -> str:
    """A script with the job hash's field names filled in from the constants above."""
    return (
        script.replace("__BUCKETS__", BUCKETS_FIELD)
        .replace("__NOT_BEFORE__", NOT_BEFORE_FIELD)
        .replace("__ORDER__", ORDER_FIELD)
    )


FOLLOWERS = _fields(FOLLOWERS)
PUSH, RELEASE, REQUEUE_HEAD, DISCARD, SET_PAUSED, ACTIVATE = (
    _fields(PUSH),
    _fields(RELEASE),
    _fields(REQUEUE_HEAD),
    _fields(DISCARD),
    _fields(SET_PAUSED),
    _fields(ACTIVATE),
)
PENALIZE, DEFER, RESTAMP, HOLD, REMEMBER, POP = (
    _fields(PENALIZE),
    _fields(DEFER),
    _fields(RESTAMP),
    _fields(HOLD),
    _fields(REMEMBER),
    _fields(POP),
)
