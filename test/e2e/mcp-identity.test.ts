/** Which agent `clawlink mcp` acts as: one not registered yet, switching with `register`, and two servers on one identity. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, eventually, runCli, tempHome } from "../_helpers";
import { connectMcp, connected, openClients, team, text } from "../_mcp";

afterAll(async () => {
  await Promise.all(openClients.map((c) => c.close()));
  await cleanup();
});

describe("clawlink mcp --as NAME", () => {
  test("serves before NAME is registered: the tools ask for register, whose name defaults to NAME", async () => {
    const { url, worker } = await team();
    const home = tempHome();
    const { call, channel } = await connectMcp(home, url, ["--as", "reviewer"]);
    const ask = "call register with your capabilities (its name defaults to reviewer); this server then acts as that agent";

    const who = await call("whoami");
    expect(who.isError).toBeFalsy();
    expect(who.structuredContent).toMatchObject({ name: null, registered: false, reachable: true, problem: { code: "no_identity", hint: ask } });
    expect(who.structuredContent.problem.message).toBe(`reviewer is not registered yet: ${home} has no saved identity of that name`);
    // Any other tool answers with the same next step, even one that could work without an identity.
    for (const [tool, args] of [["discover", {}], ["inbox", {}], ["file_list", {}], ["delegate", { to: "worker", task: "x" }]] as const) {
      const r = await call(tool, args);
      expect(r.isError).toBe(true);
      expect(r.structuredContent.error).toMatchObject({ code: "no_identity", hint: ask });
    }

    const reg = await call("register", { caps: ["review"], description: "Reviews" });
    expect(reg.isError).toBeFalsy();
    expect(reg.structuredContent).toMatchObject({ name: "reviewer", caps: ["review"] });
    // Registering again without caps keeps them, as the CLI does.
    expect((await call("register", {})).structuredContent).toMatchObject({ name: "reviewer", caps: ["review"], description: "Reviews" });
    expect((await runCli(["whoami", "--json"], { home, relay: url })).json).toMatchObject({ name: "reviewer", registered: true });
    expect((await call("discover")).structuredContent.agents.map((a: any) => a.name)).toContain("worker");
    await connected(worker, "reviewer");
    const { id } = (await runCli(["delegate", "--cap", "review", "--task", "look", "--json"], worker)).json;
    await eventually(() => channel.find((e) => e.meta.message_id === id));
  });

  test("register with another name switches the identity the server acts as, and says so", async () => {
    const { url, boss } = await team();
    const { call } = await connectMcp(boss.home, url, ["--as", "boss"]);
    expect((await call("whoami")).structuredContent.name).toBe("boss");
    const reg = await call("register", { name: "deputy" });
    expect(text(reg)).toContain("this server acted as boss until now, and acts as deputy from now on");
    expect((await call("whoami")).structuredContent).toMatchObject({ name: "deputy", registered: true });
    // Without --as, register needs a name: there is nothing to default to.
    const fresh = await connectMcp(tempHome(), url);
    const nameless = await fresh.call("register", {});
    expect(nameless.structuredContent.error).toEqual({
      code: "usage",
      message: "register: name is required (this server was started without --as)",
      hint: "call register with name: a unique agent name, e.g. reviewer",
    });
  });

  test("two servers on one identity: the one that was not handed a message says where it is", async () => {
    const { boss, worker } = await team();
    const first = await connectMcp(boss.home, boss.relay);
    await connected(worker, "boss");
    const { id } = (await runCli(["broadcast", "--content", "for boss", "--json"], worker)).json;
    await eventually(() => first.channel.find((e) => e.meta.message_id === id));

    const second = await connectMcp(boss.home, boss.relay);
    const who = await second.call("whoami");
    expect(who.structuredContent).toMatchObject({ name: "boss", held: 0, held_elsewhere: 1 });
    expect(text(who)).toContain("1 message(s) for this agent were handed to another connection of it (another clawlink mcp on the same identity, a listen, or a poll)");
    const inbox = await second.call("inbox");
    expect(inbox.structuredContent.messages).toEqual([]);
    expect(text(inbox)).toContain("give each session its own identity (--as NAME)");
    // The server that holds it shows it as its own.
    expect((await first.call("whoami")).structuredContent).toMatchObject({ held: 1, held_elsewhere: 0 });
  });
});
