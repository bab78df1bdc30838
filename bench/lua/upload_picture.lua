-- Scenario 7: PUT /users/me/picture/ with a photo as the raw body, the users taking turns.
-- Usage: wrk ... -s upload_picture.lua URL -- TOKENS_FILE PICTURE_FILE [USERS]
-- Only the first USERS tokens (default 8) are used: a few people changing their pictures,
-- each upload replacing that user's last one. Every request is built once (the body is the
-- same file), so the load generator's share of the CPU stays small.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local requests = {}
local n = 0
local i = 0

setup = common.setup
done = common.done

function init(args)
  common.seed()
  local f = assert(io.open(args[2], "rb"), "cannot open " .. tostring(args[2]))
  local body = f:read("*a")
  f:close()
  assert(#body > 0, "empty picture " .. args[2])
  local users = tonumber(args[3] or "8")
  for k, token in ipairs(common.read_lines(args[1])) do
    if k > users then
      break
    end
    requests[k] = wrk.format("PUT", "/users/me/picture/", {
      ["Authorization"] = "Token " .. token,
      ["Content-Type"] = "image/jpeg",
    }, body)
  end
  n = #requests
  i = math.random(n)
end

function request()
  i = i % n + 1
  return requests[i]
end
