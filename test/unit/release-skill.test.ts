/** The released SKILL.md's download entries name the file each platform's tarball holds. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { skillWithDownloads } from "../../scripts/_skill";
import { TARGETS } from "../../scripts/_targets";

test("each download entry's bins is the binary in its tarball: clawlink.exe on Windows, clawlink elsewhere", () => {
  const skill = readFileSync(join(import.meta.dir, "..", "..", "SKILL.md"), "utf8");
  const released = skillWithDownloads(skill, TARGETS.map((target) => ({ target, url: `https://example.test/${target.os}-${target.arch}.tgz`, sha256: "0".repeat(64) })));
  const install = (Bun.YAML.parse(released.split("---")[1]!) as any).metadata.openclaw.install as any[];
  const bins = Object.fromEntries(install.filter((e) => e.kind === "download").map((e) => [e.id, e.bins]));
  expect(bins).toEqual({
    "download-linux-x64": ["clawlink"],
    "download-linux-arm64": ["clawlink"],
    "download-darwin-x64": ["clawlink"],
    "download-darwin-arm64": ["clawlink"],
    "download-windows-x64": ["clawlink.exe"],
  });
});
