/** A team of several relays given as a list: what a client does when some of them are down, and how an identity moves between them. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, freePort, runCli, spawnRelay, startTestRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";
import { VERSION } from "../../src/version";

afterAll(cleanup);

const savedRelay = (home: string, name: string): string => JSON.parse(readFileSync(join(home, "identities", `${name}.json`), "utf8")).relay;

describe("a relay list whose first relay is down", () => {
  const live = startTestRelay().url;
  const dead = `http://127.0.0.1:${freePort()}`;
  const bob = tempHome();
  const as = { home: bob, relay: `${dead},${live}` };

  test("bob registers through the list", async () => {
    expect((await runCli(["register", "--name", "bob"], as)).code).toBe(0);
  });

  test("file-put from stdin moves on to the next relay", async () => {
    const r = await runCli(["file-put", "--key", "reports/a.md", "--json"], { ...as, stdin: "hi\n" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ key: "reports/a.md", version: 1, size: 3, author: "bob" });
  });

  test("file-put --file moves on to the next relay", async () => {
    const f = join(bob, "f.txt");
    writeFileSync(f, "from a file\n");
    const r = await runCli(["file-put", "--key", "reports/b.md", "--file", f], as);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("stored reports/b.md as version 1");
    expect((await runCli(["file-get", "--key", "reports/b.md"], as)).stdout).toBe("from a file\n");
  });
});

if (!redisMissing("test/e2e/relay-list.test.ts")) {
  describe("two relays of one team, and an identity registered with one of them", async () => {
    const redis = await startRedis();
    afterAll(() => redis.stop());
    const b = (await spawnRelay(["--redis", redis.url])).url;
    const d = (await spawnRelay(["--redis", redis.url])).url;
    const bob = tempHome();
    let id = "";

    test("bob registers with relay B only", async () => {
      const r = await runCli(["register", "--name", "bob", "--json"], { home: bob, relay: b });
      expect(r.code).toBe(0);
      id = r.json.id;
    });

    test("a command that acts as bob on relay D exits 5, and the hint says how to add D to bob's relays", async () => {
      const r = await runCli(["tasks"], { home: bob, relay: d });
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`error: the saved identity "bob" was registered with ${b}, not ${d}`);
      expect(r.stderr).toContain(`\`clawlink register --name bob --relay ${b},${d}\` (keeps its id)`);
    });

    test("discover on relay D works without an identity, and warns that bob's commands would refuse it", async () => {
      const r = await runCli(["discover", "--json"], { home: bob, relay: d });
      expect(r.code).toBe(0);
      expect(r.json.map((a: { name: string }) => a.name)).toContain("bob");
      expect(r.stderr).toContain(`warning: listing ${d} without an identity: the saved identity "bob" was registered with ${b}`);
      expect(r.stderr).toContain(`clawlink register --name bob --relay ${b},${d}`);
    });

    test("register --name bob --relay D alone keeps bob's secret from D: the name is taken, and the hint names the list that keeps the id", async () => {
      const r = await runCli(["register", "--name", "bob", "--relay", d], { home: bob });
      expect(r.code).toBe(6);
      expect(r.stderr).toContain(`error: the name "bob" belongs to agent ${id}`);
      expect(r.stderr).toContain(`hint: if ${d} is a relay of bob's team, name one of its saved relays too, which keeps its id: \`clawlink register --name bob --relay ${b},${d}\`; otherwise choose another --name`);
      expect(savedRelay(bob, "bob")).toBe(b);
    });

    test("register with a list adds relays, keeping the id", async () => {
      const r = await runCli(["register", "--name", "bob", "--json"], { home: bob, relay: `${d},${b}` });
      expect(r.code).toBe(0);
      expect(r.json.id).toBe(id);
      expect(savedRelay(bob, "bob")).toBe(`${d},${b}`);
    });

    test("on a relay her list does not name, carol is registered afresh, her saved secret never sent there, and she is told so", async () => {
      // A relay of another team, behind a recorder of what reaches it.
      const other = startTestRelay().url;
      const seen: unknown[] = [];
      const elsewhere = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        async fetch(req) {
          const body = await req.text();
          if (req.method === "POST") seen.push(JSON.parse(body));
          const headers = new Headers(req.headers);
          headers.delete("host");
          return fetch(`${other}${new URL(req.url).pathname}`, { method: req.method, headers, body: req.method === "GET" ? undefined : body });
        },
      });
      const url = `http://127.0.0.1:${elsewhere.port}`;
      const home = tempHome();
      const first = await runCli(["register", "--name", "carol", "--json"], { home, relay: b });
      expect(first.code).toBe(0);
      const r = await runCli(["register", "--name", "carol", "--json"], { home, relay: url });
      elsewhere.stop(true);
      expect(r.code).toBe(0);
      expect(savedRelay(home, "carol")).toBe(url);
      expect(seen).toEqual([expect.not.objectContaining({ secret: expect.anything() })]);
      expect(seen).toEqual([expect.not.objectContaining({ id: expect.anything() })]);
      expect(r.stderr).toContain(`carol (${first.json.id}) was saved for ${b}, which ${url} does not name: its secret was not sent, and carol is registered afresh there`);
    });
  });
}

describe("an identity whose relays are all down", () => {
  const dead1 = `http://127.0.0.1:${freePort()}`;
  const dead2 = `http://127.0.0.1:${freePort()}`;
  const live = startTestRelay().url;
  const home = tempHome();

  test("the error names the whole list, and the hint the command that gives the identity other relays", async () => {
    expect((await runCli(["register", "--name", "alice"], { home, relay: live })).code).toBe(0);
    const file = join(home, "identities", "alice.json");
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), relay: `${dead1},${dead2}` }));
    const r = await runCli(["tasks", "--json"], { home });
    expect(r.code).toBe(3);
    expect(r.json.error.message).toContain(`none of the relays of the list ${dead1},${dead2} is reachable (the last tried: ${dead2}`);
    expect(r.json.error.hint).toBe(`the URL comes from identity alice: start its relays (\`clawlink relay --redis URL --port PORT\` for each), or add running relays of its team to alice's list: \`clawlink register --name alice --relay ${dead1},${dead2},URL\` (naming one of its own relays keeps its id)`);
  });
});

describe("doctor and whoami with two relays of three down", () => {
  const deadA = `http://127.0.0.1:${freePort()}`;
  const deadB = `http://127.0.0.1:${freePort()}`;
  const live = startTestRelay({ version: VERSION }).url;
  const home = tempHome();
  const as = { home, relay: `${deadA},${deadB},${live}` };

  test("doctor warns which relays of the list do not answer, and checks the rest through the one that does", async () => {
    expect((await runCli(["register", "--name", "alice"], as)).code).toBe(0);
    const r = await runCli(["doctor", "--json"], as);
    expect(r.code).toBe(0);
    const relayChecks = r.json.checks.filter((c: { name: string }) => c.name === "relay");
    expect(relayChecks[0]).toMatchObject({ status: "warn" });
    expect(relayChecks[0].message).toBe(`2 of 3 relays in your list do not answer: ${deadA} (ECONNREFUSED), ${deadB} (ECONNREFUSED); ${live} answers`);
    expect(relayChecks[0].fix).toContain(`\`clawlink register --name alice --relay ${live}\``);
    expect(relayChecks[1]).toMatchObject({ status: "ok" });
    expect(relayChecks[1].message).toStartWith(`${live} answers`);
    expect(r.json.checks.find((c: { name: string }) => c.name === "identity").status).toBe("ok");
    const human = await runCli(["doctor"], as);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("WARN  relay       2 of 3 relays in your list do not answer");
    expect(human.stdout).toContain("all good, 1 warning");
  });

  test("with every relay up, doctor says the others answer too", async () => {
    const r = await runCli(["doctor", "--json"], { home, relay: `${live},${live.replace("127.0.0.1", "localhost")}` });
    expect(r.json.checks.find((c: { name: string }) => c.name === "relay").message).toContain("; so does the other relay of your list");
  });

  test("with one relay of two down, doctor says which one in the singular, and how to start it", async () => {
    const r = await runCli(["doctor", "--json"], { home, relay: `${deadA},${live}` });
    expect(r.code).toBe(0);
    const warning = r.json.checks.find((c: { name: string }) => c.name === "relay");
    expect(warning.message).toBe(`1 of 2 relays in your list does not answer: ${deadA} (ECONNREFUSED); ${live} answers`);
    expect(warning.fix).toStartWith("start it again (`clawlink relay --redis URL --port PORT`), or take it out of the list in CLAWLINK_RELAY");
  });

  test("whoami --json reports which relays of the list answer", async () => {
    const r = await runCli(["whoami", "--json"], as);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ name: "alice", reachable: true, relay: live, relays: [{ url: deadA, answers: false }, { url: deadB, answers: false }, { url: live, answers: true }] });
    const human = await runCli(["whoami"], as);
    expect(human.stdout).toContain(`relays      ${deadA} (does NOT answer), ${deadB} (does NOT answer), ${live} (answers)`);
  });
});

describe("mistakes in writing a relay list", () => {
  const one = startTestRelay().url;
  const two = startTestRelay().url;

  test("--relay given twice makes a list of both", async () => {
    const home = tempHome();
    const r = await runCli(["register", "--name", "dan", "--relay", one, "--relay", two, "--json"], { home });
    expect(r.code).toBe(0);
    expect(savedRelay(home, "dan")).toBe(`${one},${two}`);
  });

  for (const [what, list] of [["semicolons", `${one};${two}`], ["spaces", `${one} ${two}`]] as const) {
    test(`CLAWLINK_RELAY with ${what} between relays: exit 2, and the message says commas`, async () => {
      const r = await runCli(["discover", "--json"], { home: tempHome(), relay: list });
      expect(r.code).toBe(2);
      expect(r.json.error.message).toBe(`"${list}" is not a relay URL: relays of a list are separated by commas, not ${what}`);
      expect(r.json.error.hint).toBe("pass --relay http://HOST:PORT, or several relays of one team comma-separated: --relay http://A:9077,http://B:9077");
    });
  }
});
