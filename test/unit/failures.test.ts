/** The hint for a relay that cannot be reached names the command that starts one at that very URL. */
import { describe, expect, test } from "bun:test";
import { startCommand, unreachable } from "../../src/client/failures";

describe("startCommand", () => {
  test("plain `clawlink relay` only for the default loopback URL; another port is named", () => {
    expect(startCommand("http://127.0.0.1:9077")).toBe("clawlink relay");
    expect(startCommand("http://localhost:9100")).toBe("clawlink relay --port 9100");
    expect(startCommand("http://[::1]:9100")).toBe("clawlink relay --port 9100");
  });

  test("a network address needs a bind beyond loopback and a token; https needs a certificate", () => {
    expect(startCommand("http://192.168.1.20:9077")).toBe("clawlink relay --host 0.0.0.0 --token-file relay.token");
    expect(startCommand("https://relay.lan")).toBe("clawlink relay --host 0.0.0.0 --token-file relay.token --port 443 --tls-cert CERT.pem --tls-key KEY.pem");
  });
});

describe("unreachable", () => {
  test("one relay: the hint starts it on its own port", () => {
    const err = unreachable("http://127.0.0.1:41234", { code: "ECONNREFUSED" }, "--relay");
    expect(err.message).toBe("the relay is not reachable at http://127.0.0.1:41234 (ECONNREFUSED)");
    expect(err.hint).toBe("the URL comes from --relay: start the relay there with `clawlink relay --port 41234`, or change --relay to a running one");
  });

  test("a list: the hint starts each relay of the team", () => {
    const err = unreachable("http://127.0.0.1:2", { code: "ECONNREFUSED" }, "CLAWLINK_RELAY", false, "http://127.0.0.1:1,http://127.0.0.1:2");
    expect(err.hint).toBe("the URL comes from CLAWLINK_RELAY: start its relays (`clawlink relay --redis URL --port PORT` for each), or change CLAWLINK_RELAY to a running one");
  });
});
