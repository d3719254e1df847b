// Validates ServiceMonitor objects (a JSON array on standard input) with
// @kubernetes-models/prometheus-operator: validators compiled from
// prometheus-operator's ServiceMonitor schema (types, required fields,
// enums such as the endpoint's scheme, duration patterns). Run by chart.py:
//
//   node servicemonitor.mjs NODE_MODULES < monitors.json
//
// NODE_MODULES is the folder `.ci/chart` installed package-lock.json into,
// outside the repository, so the model is imported by its file path.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const nodeModules = process.argv[2];
const model = join(
  nodeModules,
  "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
);
const { ServiceMonitor } = await import(pathToFileURL(model).href);
const { version } = JSON.parse(
  readFileSync(join(nodeModules, "@kubernetes-models/prometheus-operator/package.json"), "utf8"),
);

const monitors = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const monitor of monitors) {
  if (!ServiceMonitor.is(monitor)) {
    console.log(`${monitor.metadata?.name}: not a monitoring.coreos.com/v1 ServiceMonitor`);
    failed += 1;
    continue;
  }
  try {
    new ServiceMonitor(monitor).validate();
  } catch (error) {
    console.log(`${monitor.metadata.name}: ${error.message}`);
    failed += 1;
  }
}
if (failed > 0) {
  process.exit(1);
}
console.log(
  `${monitors.length} valid, @kubernetes-models/prometheus-operator ${version}`,
);
