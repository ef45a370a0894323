-- wrk script for benchmarks/bench_load.py: a rotating mix of requests, statuses tallied.
--
--   wrk ... -s benchmarks/wrk_mix.lua <url> -- <spec.lua>
--
-- <spec.lua> (written by bench_load.py) returns { headers = {...}, requests = {{method=,
-- path=, body=}, ...} }. Every connection takes the next request of the list in turn (each
-- thread starts at a different place). done() prints one line, "WRK_JSON {...}", with wrk's
-- counters, latency percentiles (microseconds) and the count of each HTTP status.

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local spec = dofile(args[1])
  prepared = {}
  for i, r in ipairs(spec.requests) do
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    for name, value in pairs(spec.headers) do headers[name] = value end
    if r.body then headers["Content-Type"] = "application/json" end
    prepared[i] = wrk.format(r.method, r.path, headers, r.body)
  end
  position = (thread_id * 7) % #prepared
  statuses = {}
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local tally = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses") or {}) do
      tally[code] = (tally[code] or 0) + n
    end
  end
  local codes = {}
  for code, n in pairs(tally) do
    table.insert(codes, string.format('"%d": %d', code, n))
  end
  local e = summary.errors
  local out = {
    string.format('"duration_us": %d', summary.duration),
    string.format('"requests": %d', summary.requests),
    string.format('"bytes": %d', summary.bytes),
    string.format(
      '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}',
      e.connect, e.read, e.write, e.timeout
    ),
    string.format('"non_2xx_3xx": %d', e.status),
    string.format(
      '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "p50": %d, "p90": %d,'
        .. ' "p99": %d, "p999": %d, "max": %d}',
      latency.min, latency.mean, latency.stdev, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max
    ),
    '"statuses": {' .. table.concat(codes, ", ") .. "}",
  }
  io.write("WRK_JSON {" .. table.concat(out, ", ") .. "}\n")
end
