import { version } from "../package.json" with { type: "json" };

/** The package version, inlined by the bundler at build time. */
export const VERSION: string = version;
