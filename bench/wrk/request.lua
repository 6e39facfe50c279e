-- bench/wrk/request.lua — one request shape for wrk, set by bench/crud through
-- the environment, and one machine-readable summary line at the end.
--
--   BENCH_METHOD  GET (default) or POST
--   BENCH_KEY     API key sent as x-api-key (none when empty)
--   BENCH_BODY    request body (POST), sent as application/json
--
-- done() prints two lines for bench/crud:
--   wrk-result requests=N duration_us=N rps=R p50_us=N p99_us=N
--              non2xx=N connect=N read=N write=N timeout=N
--   wrk-quantiles W:V W:V ...
-- where V is the latency (µs) at the middle of a slice of W per mille of the
-- requests: 0.5 % slices up to the 97th percentile, 0.1 % slices above, so
-- bench/summarize can merge several runs into one distribution. (Each
-- percentile() walks wrk's histogram, so there are 224, not thousands.)

local method = os.getenv("BENCH_METHOD") or "GET"
local key = os.getenv("BENCH_KEY") or ""
local body = os.getenv("BENCH_BODY")

wrk.method = method
if key ~= "" then
	wrk.headers["x-api-key"] = key
end
if method == "POST" or method == "PATCH" then
	wrk.body = body or ""
	wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"wrk-result requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d " ..
		"non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, summary.duration,
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99),
		e.status, e.connect, e.read, e.write, e.timeout))
	local q = {}
	local function slice(from, to, step)
		for p = from, to - step / 2, step do
			q[#q + 1] = string.format("%d:%d", step * 10,
				latency:percentile(p + step / 2))
		end
	end
	slice(0, 97, 0.5)
	slice(97, 100, 0.1)
	io.write("wrk-quantiles ", table.concat(q, " "), "\n")
end
