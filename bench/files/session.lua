-- wrk script of `make bench`: many distinct sessions, each request reads and
-- rewrites ~2 KB (bench.php). A request without a cookie creates a session
-- (the Set-Cookie is kept); the others reuse a random known session. Per
-- thread at most MAX sessions; NEW_SHARE of the requests create new ones.
local MAX = 2000
local NEW_SHARE = 0.2
local COOKIE = "KITBENCH"
local sessions = {}
local count = 0
local next_slot = 1

function init(args)
  if args[1] and args[1] ~= "" then COOKIE = args[1] end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
  if count < 50 or math.random() < NEW_SHARE then
    return wrk.format("GET", wrk.path)
  end
  local id = sessions[math.random(count)]
  return wrk.format("GET", wrk.path, {["Cookie"] = COOKIE .. "=" .. id})
end

function response(status, headers, body)
  local cookie = headers["Set-Cookie"] or headers["set-cookie"]
  if cookie then
    local id = cookie:match(COOKIE:gsub("%W", "%%%0") .. "=([^;]+)")
    if id and id ~= "deleted" then
      sessions[next_slot] = id
      if count < MAX then count = count + 1 end
      next_slot = next_slot % MAX + 1
    end
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    "BENCHJSON {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, \"connect_errors\": %d, \"read_errors\": %d, " ..
    "\"write_errors\": %d, \"status_errors\": %d, \"timeouts\": %d, \"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, " ..
    "\"mean_us\": %.1f, \"max_us\": %d}\n",
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
