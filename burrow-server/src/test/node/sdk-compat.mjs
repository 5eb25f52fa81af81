// Drives a Burrow server with the unmodified Freestyle SDK. Reads FREESTYLE_API_URL and FREESTYLE_API_KEY
// like any SDK user would; prints one JSON line of observations that the Java test asserts on.
import { Freestyle, Errors } from "freestyle-sandboxes";

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

await fs.vms.delete({ vmId: created.vmId });
try {
  await vm.getInfo();
  out.afterDelete = "still there";
} catch (e) {
  out.afterDelete = e.constructor.name;
}
console.log(JSON.stringify(out));
