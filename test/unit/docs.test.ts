/** The documents an agent reads stay true to the binary: every command is documented, the skill's frontmatter is valid. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { main } from "../../src/cli";
import pkg from "../../package.json" with { type: "json" };

const root = join(import.meta.dir, "..", "..");
const read = (f: string) => Bun.file(join(root, f)).text();

test("SKILL.md has OpenClaw frontmatter that declares the clawlink binary and the package version", async () => {
  const skill = await read("SKILL.md");
  const front = Bun.YAML.parse(skill.split("---")[1]!) as any;
  expect(front).toMatchObject({ name: "clawlink", version: pkg.version, metadata: { openclaw: { requires: { bins: ["clawlink"] } } } });
  expect(front.description.length).toBeGreaterThan(50);
});

test("every command is in the README's command table and in SKILL.md", async () => {
  const [readme, skill] = await Promise.all([read("README.md"), read("SKILL.md")]);
  const commands = Object.keys(main.subCommands as object).filter((c) => c !== "relay");
  for (const c of commands) {
    expect({ c, inReadme: readme.includes(`\`${c}`) }).toEqual({ c, inReadme: true });
    expect({ c, inSkill: skill.includes(`clawlink ${c}`) }).toEqual({ c, inSkill: true });
  }
});

test("SKILL.md installs clawlink with npm, and install.sh downloads from the repository package.json names", async () => {
  const front = Bun.YAML.parse((await read("SKILL.md")).split("---")[1]!) as any;
  expect(front.metadata.openclaw.install).toContainEqual({ id: "node", kind: "node", package: "clawlink", bins: ["clawlink"], label: "Install clawlink (npm)" });
  const repo = /github\.com\/([^/]+\/[^/.]+)/.exec(pkg.repository.url)![1];
  const installer = await read("scripts/install.sh");
  expect(installer).toContain(`releases="https://github.com/${repo}/releases"`);
  expect(await read("README.md")).toContain(`curl -fsSL https://github.com/${repo}/releases/latest/download/install.sh | sh`);
});
