-- wrk script for the relay throughput bench: POST the body in BENCH_BODY with the Authorization
-- header in BENCH_AUTH (set by scripts/bench.ts; run by hand as
--   BENCH_AUTH="Bearer a_….…" BENCH_BODY='{"type":"broadcast","content":"hi"}' wrk -t1 -c64 -d5s --latency -s scripts/wrk-post.lua http://127.0.0.1:PORT/v1/messages)
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"type":"broadcast","content":"hi"}'
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
