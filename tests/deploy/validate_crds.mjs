// Validate prometheus-operator objects (JSON array on stdin) with the schema validators of
// npm @kubernetes-models/prometheus-operator, generated from the operator's own CRDs.
// Usage: node validate_crds.mjs NODE_MODULES_DIR < objects.json; prints one line per object,
// exits 1 when any is invalid.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const root = path.join(process.argv[2], "@kubernetes-models", "prometheus-operator", "monitoring.coreos.com", "v1");
const load = async (kind) => (await import(pathToFileURL(path.join(root, `${kind}.js`)).href))[kind];
const kinds = { ServiceMonitor: await load("ServiceMonitor"), PodMonitor: await load("PodMonitor"),
  PrometheusRule: await load("PrometheusRule") };
let bad = 0;
for (const obj of JSON.parse(fs.readFileSync(0, "utf8"))) {
  try {
    new kinds[obj.kind](obj).validate();
    console.log(`ok ${obj.kind}/${obj.metadata.name}`);
  } catch (err) {
    bad += 1;
    console.log(`invalid ${obj.kind}/${obj.metadata.name}: ${err.message}`);
  }
}
process.exit(bad ? 1 : 0);
