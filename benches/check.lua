-- wrk script: POST /api/v1/credit-checks with codes from a file (one per line), round robin.
-- Usage: TOKEN=... CODES=codes.txt FIELD=government_procurement wrk -s benches/check.lua URL
local token = os.getenv("TOKEN")
local field = os.getenv("FIELD") or "government_procurement"
local codes = {}
for line in io.lines(os.getenv("CODES") or "codes.txt") do
  codes[#codes + 1] = line
end
local counter = 0

function init(args)
  -- Each thread starts elsewhere in the list.
  counter = math.random(#codes)
end

request = function()
  counter = counter % #codes + 1
  local body = '{"subject_code":"' .. codes[counter] .. '","field":"' .. field ..
    '","reference":"BENCH-' .. counter .. '"}'
  return wrk.format("POST", "/api/v1/credit-checks", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

-- No `response` callback: calling into Lua for every response costs wrk CPU, and wrk shares the
-- machine's cores with the server. wrk itself counts answers with a status of 400 or more
-- (`summary.errors.status`), which is every answer but 201 that the check can give.
done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("status >= 400 / socket errors: %d/%d\n", summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
