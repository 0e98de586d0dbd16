-- wrk script: GET a random product among the bench's 1,000, with a 120-character User-Agent.
local ids = {}
for line in io.lines(os.getenv("FOOTFALL_BENCH_IDS")) do
  ids[#ids + 1] = line
end
local agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
  .. "Chrome/124.0.0.0 Safari/537.36 FootfallBench/1.00"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

request = function()
  return wrk.format("GET", "/api/products/" .. ids[math.random(#ids)], { ["User-Agent"] = agent })
end
