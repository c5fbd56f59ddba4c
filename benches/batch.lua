-- wrk script: POST /api/v1/credit-checks/batch with BATCH (default 1000) codes from a file.
local token = os.getenv("TOKEN")
local n = tonumber(os.getenv("BATCH") or "1000")
local codes = {}
for line in io.lines(os.getenv("CODES") or "codes.txt") do
  codes[#codes + 1] = '"' .. line .. '"'
end
local offset = 0
request = function()
  local pick = {}
  for i = 1, n do pick[i] = codes[(offset + i - 1) % #codes + 1] end
  offset = offset + n
  local body = '{"subject_codes":[' .. table.concat(pick, ",") .. '],"field":"bidding","reference":"ZB-BENCH"}'
  return wrk.format("POST", "/api/v1/credit-checks/batch", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("status >= 400 / socket errors: %d/%d\n", summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
