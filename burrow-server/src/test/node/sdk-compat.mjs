// Drives a Burrow server with the unmodified Freestyle SDK. Reads FREESTYLE_API_URL and FREESTYLE_API_KEY
// like any SDK user would; prints one JSON line of observations that the Java test asserts on.
import { Freestyle, Errors, VmSpec, VmBaseImage } from "freestyle-sandboxes";

const fs = new Freestyle();
const out = {};

const created = await fs.vms.create({ vcpuCount: 1, memSizeGb: 0.25 });
out.vmId = created.vmId;
const vm = created.vm;

const execResult = await vm.exec("echo from-sdk; echo err >&2; exit 3");
out.exec = execResult;

await vm.fs.writeTextFile("/tmp/sdk dir/hello.txt", "hello from the SDK ✓");
out.readBack = await vm.fs.readTextFile("/tmp/sdk dir/hello.txt");
out.dir = await vm.fs.readDir("/tmp/sdk dir");
await vm.fs.writeFile("/tmp/bin.dat", Buffer.from([0, 1, 2, 254, 255]));
out.binary = Array.from(await vm.fs.readFile("/tmp/bin.dat"));
out.exists = await vm.fs.exists("/tmp/bin.dat");
out.missingExists = await vm.fs.exists("/tmp/nope");

out.info = await vm.getInfo();
const listed = await fs.vms.list();
out.listed = listed.vms.some((v) => v.id === created.vmId);
out.counts = { total: listed.totalCount, running: listed.runningCount };

await vm.suspend();
out.afterSuspend = (await vm.getInfo()).state;
await vm.start();
out.afterStart = (await vm.getInfo()).state;
await vm.stop();
out.afterStop = (await vm.getInfo()).state;
await vm.start();
await vm.kill();
out.afterKill = (await vm.getInfo()).state;

try {
  await fs.vms.ref({ vmId: "aaaaaaaaaaaaaaaaaaaa" }).getInfo();
  out.notFound = "no error";
} catch (e) {
  out.notFound = e.constructor.name;
}
try {
  await vm.fs.readTextFile("/definitely/missing");
  out.fileNotFound = "no error";
} catch (e) {
  out.fileNotFound = e.constructor.name;
}

// Domain mappings, as fs.domains.mappings calls them (the SDK sends the domain in the body too)
const mapped = await fs.domains.mappings.create({ domain: "sdk.burrow.test", vmId: created.vmId, vmPort: 3000 });
const mappingList = await fs.domains.mappings.list({ domain: "sdk.burrow.test" });
out.domains = { mapped, listed: mappingList.mappings };
out.domains.deleted = await fs.domains.mappings.delete({ domain: "sdk.burrow.test" });
out.domains.after = (await fs.domains.mappings.list({ domain: "sdk.burrow.test" })).mappings;

// Identities, as the SDK's own `ssh` CLI command uses them: identity, VM grant, token, then revoke and delete.
const { identity, identityId } = await fs.identities.create();
out.identity = { identityId };
out.identity.grant = await identity.permissions.vms.grant({ vmId: created.vmId });
const { token, tokenId } = await identity.tokens.create();
out.identity.token = token;
out.identity.tokenId = tokenId;
out.identity.permission = await identity.permissions.vms.get({ vmId: created.vmId });
out.identity.permissions = await identity.permissions.vms.list();
out.identity.updated = await identity.permissions.vms.update({ vmId: created.vmId, allowedUsers: ["root"] });
out.identity.tokensBefore = (await identity.tokens.list()).tokens.map((t) => t.id);
out.identity.listed = (await fs.identities.list({ limit: 100 })).identities.some((i) => i.id === identityId);
out.identity.revoke = await identity.tokens.revoke({ tokenId });
out.identity.tokensAfter = (await identity.tokens.list()).tokens.map((t) => t.id);
out.identity.revokeVm = await identity.permissions.vms.revoke({ vmId: created.vmId });
out.identity.delete = await fs.identities.delete({ identityId });
try {
  await fs.identities.ref({ identityId }).tokens.list();
  out.identity.afterDelete = "still there";
} catch (e) {
  out.identity.afterDelete = e.message;
}

// Typed errors: a code the SDK knows arrives as its class; Burrow's own codes show their description.
try {
  await fs.vms.create({ users: [{ name: "sdkhome", home: "/home/../etc" }] });
  out.knownCode = "no error";
} catch (e) {
  out.knownCode = { name: e.constructor.name, message: e.message };
}
try {
  await vm.resize({ vcpuCount: 0 });
  out.unknownCode = "no error";
} catch (e) {
  out.unknownCode = { name: e.constructor.name, message: e.message };
}
out.sdkErrorCodes = Object.fromEntries(
  Object.entries(Errors.FREESTYLE_ERROR_CODE_MAP).map(([code, cls]) => [code, cls.statusCode]));

await fs.vms.delete({ vmId: created.vmId });
try {
  await vm.getInfo();
  out.afterDelete = "still there";
} catch (e) {
  out.afterDelete = e.constructor.name;
}
// services: the create field and vm.systemd, as the SDK sends them
const svcCreated = await fs.vms.create({
  memSizeGb: 0.25,
  users: [{ name: "sdkuser" }],
  groups: [{ name: "sdkgroup" }],
  systemd: {
    services: [
      { name: "hello", mode: "oneshot", exec: ["echo hello-from-service"] },
      { name: "loop", mode: "service", exec: ["sleep 1000"], after: ["hello"], requires: ["hello"],
        restartPolicy: { policy: "always", restartSec: 1 } },
    ],
  },
});
const sv = svcCreated.vm;
const until = async (f) => {
  for (let i = 0; i < 100; i++) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  return null;
};
out.helloStatus = await until(async () => {
  const st = await sv.systemd.service("hello").status();
  return st.activeState === "active" ? st : null;
});
out.loopStatus = await until(async () => {
  const st = await sv.systemd.service("loop").status();
  return st.subState === "running" ? st : null;
});
out.svcList = (await sv.systemd.list()).services.map((s) => s.name).sort();
out.asUser = await sv.user({ username: "sdkuser" }).exec("id -un");
out.helloLogs = (await sv.systemd.service("hello").logs({ lines: 10 })).logs.map((l) => l.message);
out.added = await sv.systemd.create({ name: "added", mode: "service", exec: ["sleep 1000"] });
try {
  await sv.systemd.create({ name: "added", mode: "service", exec: ["true"] });
  out.duplicate = "no error";
} catch (e) {
  out.duplicate = e.constructor.name;
}
out.stopped = await sv.systemd.service("added").stop();
out.addedAfterStop = (await sv.systemd.service("added").status()).activeState;
out.started = await sv.systemd.start({ services: [{ id: "added" }] });
out.restarted = await sv.systemd.service("added").restart();
out.deleted = await sv.systemd.service("added").delete();
try {
  await sv.systemd.service("added").status();
  out.deletedStatus = "no error";
} catch (e) {
  out.deletedStatus = e.constructor.name;
}
await fs.vms.delete({ vmId: svcCreated.vmId });

// the SDK's own "bash" services (it writes the script into additionalFiles and runs it with /bin/bash), chained
// with after/requires as runCommands does, in a Debian VM (which has bash)
const bashCreated = await fs.vms.create({
  image: "builtin:debian",
  memSizeGb: 0.25,
  systemd: {
    services: [
      { name: "step-1", mode: "oneshot", bash: "echo one > /tmp/one", deleteAfterSuccess: true },
      { name: "step-2", mode: "oneshot", bash: "cat /tmp/one > /tmp/two\necho two >> /tmp/two",
        after: ["step-1"], requires: ["step-1"] },
    ],
  },
});
out.bashSteps = await until(async () => {
  const r = await bashCreated.vm.exec("cat /tmp/two 2>/dev/null");
  return r.stdout === "one\ntwo\n" ? r.stdout : null;
});
out.bashStepsLeft = await until(async () => {
  const names = (await bashCreated.vm.systemd.list()).services.map((s) => s.name);
  return names.includes("step-1") ? null : names;
});
await fs.vms.delete({ vmId: bashCreated.vmId });
// snapshots from templates: snapshots.ensure with a VmBaseImage (FROM + runCommands, which the SDK writes as
// RUN here-documents) and files, cached on the second call; vms.create({snapshot: VmSpec}) sends the spec as the
// create's template, whose baseImage the server builds into a cached snapshot
const tag = `sdk-${Date.now()}`;
const template = {
  baseImage: new VmBaseImage("FROM builtin:busybox").runCommands(`echo ${tag} > /sdk-built`, "mkdir -p /opt/sdk"),
  additionalFiles: { "/opt/sdk/note.txt": { content: "from the template" } },
  discriminator: tag,
};
const ensured = await fs.vms.snapshots.ensure({ template });
const ensuredAgain = await fs.vms.snapshots.ensure({ template: { ...template,
  baseImage: new VmBaseImage("FROM builtin:busybox").runCommands(`echo ${tag} > /sdk-built`, "mkdir -p /opt/sdk") } });
const fromSnap = await fs.vms.create({ snapshotId: ensured.snapshotId });
out.templateSnapshot = {
  snapshotId: ensured.snapshotId,
  again: ensuredAgain.snapshotId,
  built: (await fromSnap.vm.exec("cat /sdk-built /opt/sdk/note.txt")).stdout,
};
await fs.vms.delete({ vmId: fromSnap.vmId });
const specCreated = await fs.vms.create({
  snapshot: new VmSpec().baseImage(new VmBaseImage("FROM builtin:busybox").runCommands(`echo spec-${tag} > /spec-built`)),
});
out.templateSnapshot.fromSpec = (await specCreated.vm.exec("cat /spec-built")).stdout;
out.templateSnapshot.specSnapshotId = (await specCreated.vm.getInfo()).snapshotId ?? null;
await fs.vms.delete({ vmId: specCreated.vmId });
out.templateSnapshot.deleted = await fs.vms.snapshots.delete({ snapshotId: ensured.snapshotId });
console.log(JSON.stringify(out));
