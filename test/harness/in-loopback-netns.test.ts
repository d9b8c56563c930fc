// scripts/in-loopback-netns.sh, which `npm test` runs the suite in: where no
// namespace can be made it runs the command anyway outside CI, and exits 1
// without running it in CI.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DECOY_INTERFACES, gatewayRoutes, interfacesIn } from "../support/loopback-netns.js";
import { asUser } from "../support/prerequisites.js";
import { repoRoot, requires } from "../support/requires.js";

const SCRIPT = path.join(repoRoot, "scripts/in-loopback-netns.sh");
// What the script says when it cannot make a namespace, whoever runs it.
const CANNOT = /^in-loopback-netns: (not running as root|cannot create a network namespace here: unshare: unshare failed: Operation not permitted); /;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "po-netns-script-"));
  // An unshare that fails as it does without CAP_SYS_ADMIN, first on PATH.
  writeFileSync(path.join(dir, "unshare"), '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n');
  chmodSync(path.join(dir, "unshare"), 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The environment of this process without CI, plus `extra`. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { CI: _ci, ...rest } = process.env;
  return { ...rest, ...extra };
}

function run(cmd: string[], extra: Record<string, string>, prefix: string[] = []) {
  const [program, ...args] = [...prefix, "/bin/sh", SCRIPT, ...cmd];
  const r = spawnSync(program!, args, { env: env(extra), encoding: "utf8", timeout: 20_000, cwd: "/" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const failingUnshare = () => ({ PATH: `${dir}:${process.env.PATH ?? "/usr/bin:/bin"}` });

test.each(["true", "1", "TRUE"])("CI=%s and no namespace possible: exit 1, the command does not run, stderr says why", (ci) => {
  const r = run(["sh", "-c", "echo the-command-ran"], { ...failingUnshare(), CI: ci });
  expect(r.status).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(CANNOT);
  expect(r.stderr).toContain(`CI=${ci} so sh is NOT run: CI runs the tests only where nothing but loopback can be reached`);
});

test("outside CI and no namespace possible: the command runs anyway, with a warning", () => {
  const r = run(["sh", "-c", "echo the-command-ran; exit 3"], { ...failingUnshare(), CI: "false" });
  expect(r.stdout).toBe("the-command-ran\n");
  expect(r.status).toBe(3);
  expect(r.stderr).toMatch(CANNOT);
  expect(r.stderr).toContain("running sh WITHOUT a network namespace (it can reach the network)");
});

requires("other-user").test("as a user who is not root, CI=true: exit 1 without running the command", () => {
  // nobody cannot read the work tree everywhere: give it a copy of the script.
  const own = mkdtempSync(path.join(tmpdir(), "po-netns-nobody-"));
  try {
    chmodSync(own, 0o755);
    copyFileSync(SCRIPT, path.join(own, "in-loopback-netns.sh"));
    chmodSync(path.join(own, "in-loopback-netns.sh"), 0o755);
    const [program, ...args] = [...asUser("nobody"), "/bin/sh", path.join(own, "in-loopback-netns.sh"), "sh", "-c", "echo the-command-ran"];
    const r = spawnSync(program!, args, { env: env({ CI: "true" }), encoding: "utf8", timeout: 20_000, cwd: "/" });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 1, stdout: "" });
    expect(r.stderr).toMatch(/^in-loopback-netns: not running as root; CI=true so sh is NOT run/);
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
});

requires("netns").test("with a namespace (CI=true): the command runs where only loopback leads anywhere, beside the decoys, under a decoy host name, and its exit status comes back", () => {
  const r = run(["sh", "-c", "cat /proc/self/net/dev; echo ROUTES; cat /proc/self/net/route; echo ADDRS; ip -o addr show dev d0; echo \"DECOYS $PURPLE_ONION_DECOY_ADDRS\"; echo \"HOST $(cat /proc/sys/kernel/hostname) $PURPLE_ONION_DECOY_HOSTNAME\"; exit 5"], { CI: "true" });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 5, stderr: "" });
  const [dev, rest] = r.stdout.split("ROUTES\n");
  const [routes, addrs] = rest!.split("ADDRS\n");
  expect(interfacesIn(dev!)).toEqual([...DECOY_INTERFACES, "lo"]);
  expect(gatewayRoutes(routes!)).toEqual([]);
  expect(addrs).toContain("inet 10.77.77.77/24");
  expect(addrs).toContain("inet6 fd77::77/64");
  expect(addrs).toContain("DECOYS 10.77.77.77 fd77::77");
  expect(addrs).toContain("HOST po-decoy-host-77 po-decoy-host-77");
});

test("without veth support: CI=true exits 1 and says the decoy interface cannot be made", () => {
  // An ip that makes namespaces' loopback but knows no veth, first on PATH.
  const fake = mkdtempSync(path.join(tmpdir(), "po-netns-noveth-"));
  try {
    writeFileSync(path.join(fake, "ip"), '#!/bin/sh\ncase "$*" in *veth*) echo "Error: Unknown device type." >&2; exit 2;; esac\nexit 0\n');
    writeFileSync(path.join(fake, "unshare"), '#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n');
    writeFileSync(path.join(fake, "id"), "#!/bin/sh\necho 0\n");
    for (const f of ["ip", "unshare", "id"]) chmodSync(path.join(fake, f), 0o755);
    const r = run(["sh", "-c", "echo the-command-ran"], { PATH: `${fake}:${process.env.PATH ?? "/usr/bin:/bin"}`, CI: "true" });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 1, stdout: "" });
    expect(r.stderr).toContain("in-loopback-netns: cannot create the decoy interface (veth) in a network namespace: Error: Unknown device type.");
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});
