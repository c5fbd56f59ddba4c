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

-- Fails the run visibly when any response is not 201.
local errors = 0
response = function(status, headers, body)
  if status ~= 201 then
    errors = errors + 1
    if errors <= 3 then print("unexpected status " .. status .. ": " .. body) end
  end
end

done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("non-2xx/socket errors: %d/%d\n", summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
