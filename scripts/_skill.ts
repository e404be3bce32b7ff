/** The released SKILL.md: the repository's, with a download entry per platform in metadata.openclaw.install. */
import type { Target } from "./_targets";

export interface Download {
  target: Target;
  /** The platform's npm tarball on the release: OpenClaw unpacks `package/bin/clawlink` (`clawlink.exe` on Windows) from it. */
  url: string;
  sha256: string;
}

const OS_LABEL = { linux: "Linux", darwin: "macOS", windows: "Windows" } as const;

/** Adds the entries after the ones already under `install:` (the npm one), or fails loudly if there is no such list. */
export function skillWithDownloads(skill: string, downloads: Download[]): string {
  const lines = skill.split("\n");
  const end = lines.indexOf("---", 1);
  const start = lines.findIndex((l, i) => i < end && l === "    install:");
  if (start < 0) throw new Error("SKILL.md's frontmatter has no `    install:` list under metadata.openclaw");
  let at = start + 1;
  while (at < end && lines[at]!.startsWith("      ")) at++;
  const entries = downloads.flatMap(({ target: t, url, sha256 }) => [
    `      - id: download-${t.os}-${t.arch}`,
    "        kind: download",
    `        os: [${t.os === "windows" ? "win32" : t.os}]`,
    `        url: ${url}`,
    `        sha256: ${sha256}`,
    "        archive: tar.gz",
    "        stripComponents: 2",
    // The name of the file the archive holds: on Windows, clawlink.exe.
    `        bins: [clawlink${t.os === "windows" ? ".exe" : ""}]`,
    `        label: Download clawlink for ${OS_LABEL[t.os]} ${t.arch}`,
  ]);
  return [...lines.slice(0, at), ...entries, ...lines.slice(at)].join("\n");
}
