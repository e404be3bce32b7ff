-- releaseConnection(identity, conn): stops counting a held connection; an unknown one changes nothing.
if redis.call("SREM", key("hc", A.identity), A.conn) == 1 then
  redis.call("SREM", key("hcr", relay_of(A.conn)), A.identity .. " " .. A.conn)
end
return cjson.encode({})
