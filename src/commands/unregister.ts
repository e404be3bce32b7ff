import { forgetIdentity } from "../config";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "unregister", description: "Leave the relay and forget the saved identity; tasks you held are marked failed" },
  examples: [
    "clawlink unregister",
  ],
  args: {},
  async run(ctx) {
    const me = ctx.me();
    await ctx.client.unregister(me.id);
    forgetIdentity(ctx.home, me.name);
    ctx.out({ id: me.id, name: me.name, unregistered: true }, `unregistered ${me.name} (${me.id})`);
  },
});
