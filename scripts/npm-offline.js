// Offline `npm ci`: unpack the npm tarballs of a bundle (`make bundle` -> BUNDLE/npm) into
// node_modules exactly as package-lock.json places them, after checking each tarball's
// sha512 against the lockfile's integrity. Asks no registry.
//   node scripts/npm-offline.js BUNDLE/npm
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const dir = path.resolve(process.argv[2] || ".bundle/npm");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
const tarballs = new Map();
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".tgz"))) {
  const full = path.join(dir, file);
  const digest = "sha512-" + crypto.createHash("sha512").update(fs.readFileSync(full)).digest("base64");
  tarballs.set(digest, full);
}
fs.rmSync("node_modules", { recursive: true, force: true });
for (const [where, meta] of Object.entries(lock.packages)) {
  if (!where) continue;
  const tarball = tarballs.get(meta.integrity);
  if (!tarball) {
    console.error(`npm-offline: no tarball in ${dir} matches ${where}@${meta.version} (${meta.integrity})`);
    process.exit(2);
  }
  fs.mkdirSync(where, { recursive: true });
  execFileSync("tar", ["xzf", tarball, "-C", where, "--strip-components=1", "--no-same-owner"]);
}
console.log(`npm-offline: ${Object.keys(lock.packages).length - 1} packages unpacked into node_modules`);
