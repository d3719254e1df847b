"""The Helm chart in charts/datacoop, checked without a cluster.

Helm's own engine (Helm v4, linked in through helm-python-sdk) lints the
chart and renders it; every rendered object is validated against the
Kubernetes API's schemas (kubernetes-validate, strict: unknown fields
fail) for several Kubernetes versions, and the ServiceMonitor against
prometheus-operator's schema (servicemonitor.mjs). values.schema.json and
the chart's own refusals are checked on values that must fail. Run by
`.ci/chart`, which installs what this imports.

    python chart.py NODE_MODULES
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "datacoop"
HERE = Path(__file__).resolve().parent

# The oldest Kubernetes the chart supports (Chart.yaml's kubeVersion), one
# between, and the newest kubernetes-validate knows.
KUBE_VERSIONS = (
    "1.30",
    "1.33",
    kubernetes_validate.utils.major_minor(kubernetes_validate.latest_version()),
)

RELEASE = "datacoop"
NAMESPACE = "datacoop"

# A third set of values, beside the defaults and ci/production-values.yaml,
# reaching every template the other two leave out: a PostgreSQL URL, an
# admin token and a log signing key given as values (the chart's Secret and
# the migration Job's hook-time Secret), the repository's own policy folder
# as a ConfigMap, an existing ServiceAccount, minAvailable, database CIDRs.
POLICIES = ROOT / "policies"
FROM_VALUES: dict[str, Any] = {
    "replicaCount": 2,
    "database": {"url": "postgres://datacoop:secret@postgres.db.svc:5432/datacoop"},
    "adminToken": {"value": "dca_" + "0123456789abcdef" * 3},
    "logSigningKey": {"value": "PRIVATE+KEY+datacoop/log/ci+0a1b2c3d+" + "A" * 44},
    "policies": {
        "files": {
            name: (POLICIES / name).read_text()
            for name in ("vocabulary.json", "schema.cedarschema", "coop.cedar")
            if (POLICIES / name).exists()
        }
    },
    "serviceAccount": {"create": False, "name": "datacoop-runtime"},
    "podDisruptionBudget": {"minAvailable": 1},
    "networkPolicy": {
        "enabled": True,
        "egress": {"database": {"cidrs": ["10.20.0.0/16"]}},
    },
    "image": {"digest": "sha256:" + "0" * 64},
    "persistence": {"enabled": False},
}


class Checks:
    """Runs named checks, prints each as it ends, and counts them."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def run(self, name: str, check: Callable[[], str | None]) -> None:
        try:
            detail = check()
        except Exception as error:  # a failed check, whatever raised it
            self.failed += 1
            lines = str(error).strip().splitlines() or [type(error).__name__]
            print(f"FAIL {name}\n     " + "\n     ".join(lines))
            return
        self.passed += 1
        print(f"ok   {name}{f' ({detail})' if detail else ''}")


def render(values: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Renders the chart as `helm install` would; returns its objects."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                document["__template"] = path
                objects.append(document)
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    if len(found) != 1:
        raise AssertionError(f"expected one {kind}, found {len(found)}")
    return found[0]


def lint(values: dict[str, Any] | None) -> str:
    report = helm.lint(
        CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSIONS[0]}.0"
    )
    # Severity 2 is a warning, 3 an error; --strict makes warnings fail.
    problems = [m for m in report["messages"] if m["severity"] >= 2] + [
        {"path": "", "error": e} for e in report["errors"]
    ]
    if problems:
        raise AssertionError("\n".join(f"{m['path']}: {m['error']}" for m in problems))
    infos = [m["error"] for m in report["messages"]]
    return "; ".join(infos) if infos else "clean"


def validate_kubernetes(objects: list[dict[str, Any]]) -> str:
    errors = []
    checked = 0
    for obj in objects:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # not a Kubernetes API object: servicemonitor.mjs checks it
        plain = {k: v for k, v in obj.items() if k != "__template"}
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(plain, version, strict=True)
                checked += 1
            except kubernetes_validate.ValidationError as error:
                where = ".".join(str(p) for p in error.path)
                errors.append(
                    f"{obj['__template']}: {obj['kind']} against {version}: {where}: {error.message}"
                )
            except kubernetes_validate.SchemaNotFoundError as error:
                errors.append(f"{obj['__template']}: {error.message}")
    if errors:
        raise AssertionError("\n".join(errors))
    return f"{len(objects)} objects, {checked} validations"


def validate_service_monitors(objects: list[dict[str, Any]], node_modules: Path) -> str:
    monitors = [
        {k: v for k, v in o.items() if k != "__template"}
        for o in by_kind(objects, "ServiceMonitor")
    ]
    if not monitors:
        raise AssertionError("no ServiceMonitor rendered")
    result = subprocess.run(
        ["node", str(HERE / "servicemonitor.mjs"), str(node_modules)],
        input=json.dumps(monitors),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(result.stdout + result.stderr)
    return result.stdout.strip()


def expect_failure(
    values: dict[str, Any], error: type[Exception], message: str
) -> Callable[[], str]:
    def check() -> str:
        try:
            render(values)
        except error as raised:
            text = str(raised)
            if message not in text:
                raise AssertionError(f"failed, but without `{message}`: {text}") from None
            # The schema's complaint, or the template's `fail` message.
            reasons = re.findall(r"- at '[^']*': .*", text) or [text.split("): ", 1)[-1]]
            return " ".join(reasons[0].split())
        raise AssertionError(f"rendered: {json.dumps(values)}")

    return check


def leaf_keys(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Value paths as the README names them: a map's keys, down to lists,
    scalars and maps that are empty by default."""
    keys = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in OPEN_MAPS:
            keys.extend(leaf_keys(value, path + "."))
        else:
            keys.append(path)
    return keys


# Maps passed through to Kubernetes whole, documented as one value.
OPEN_MAPS = {
    "resources",
    "podSecurityContext",
    "securityContext",
    "migrations.job.resources",
}


def main() -> int:
    node_modules = Path(sys.argv[1])
    checks = Checks()
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    production = yaml.safe_load((CHART / "ci" / "production-values.yaml").read_text())

    def app_version() -> str:
        workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]
        chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
        if chart["appVersion"] != workspace["version"]:
            raise AssertionError(
                f"Chart.yaml appVersion {chart['appVersion']} is not Cargo.toml's {workspace['version']}"
            )
        if chart["kubeVersion"] != f">={KUBE_VERSIONS[0]}.0-0":
            raise AssertionError(
                f"kubeVersion {chart['kubeVersion']}: the oldest version checked is {KUBE_VERSIONS[0]}"
            )
        return f"appVersion {chart['appVersion']}, kubeVersion {chart['kubeVersion']}"

    def readme_documents_every_value() -> str:
        readme = (CHART / "README.md").read_text()
        documented = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))
        keys = leaf_keys(defaults)
        missing = [k for k in keys if k not in documented]
        unknown = sorted(documented - set(keys))
        if missing or unknown:
            raise AssertionError(
                f"not in README.md's table: {missing}; in it but not a value: {unknown}"
            )
        return f"{len(keys)} values"

    checks.run("Chart.yaml matches the workspace", app_version)
    checks.run("README.md documents every value of values.yaml", readme_documents_every_value)

    print(
        f"Kubernetes versions: {', '.join(KUBE_VERSIONS)} (kubernetes-validate {kubernetes_validate.__version__}, strict)"
    )
    rendered: dict[str, list[dict[str, Any]]] = {}
    for label, values in (
        ("default values", None),
        ("ci/production-values.yaml", production),
        ("values given inline (Secrets, policies)", FROM_VALUES),
    ):
        checks.run(f"helm lint --strict, {label}", lambda values=values: lint(values))

        def render_check(label: str = label, values: dict[str, Any] | None = values) -> str:
            rendered[label] = render(values)
            kinds = sorted(f"{o['kind']}" for o in rendered[label])
            return ", ".join(kinds)

        checks.run(f"helm template, {label}", render_check)
        if label in rendered:
            checks.run(
                f"Kubernetes schemas, {label}",
                lambda label=label: validate_kubernetes(rendered[label]),
            )

    default_objects = rendered.get("default values", [])
    production_objects = rendered.get("ci/production-values.yaml", [])
    inline_objects = rendered.get("values given inline (Secrets, policies)", [])

    if production_objects:
        checks.run(
            "ServiceMonitor against prometheus-operator's schema, ci/production-values.yaml",
            lambda: validate_service_monitors(production_objects, node_modules),
        )

    def sqlite_defaults() -> str:
        deployment = one(default_objects, "Deployment")
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", spec["strategy"]
        assert env["DATACOOP_DATABASE_URL"] == "sqlite:///var/lib/datacoop/datacoop.db", env
        assert env["DATACOOP_MIGRATE_ON_START"] == "true", "SQLite has no migration Job"
        assert not by_kind(default_objects, "Job"), "a migration Job with SQLite"
        assert not by_kind(default_objects, "PodDisruptionBudget"), (
            "a PodDisruptionBudget for one replica"
        )
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/datacoop"} <= mounts, mounts
        claim = one(default_objects, "PersistentVolumeClaim")
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        return "one replica, Recreate, PVC at /var/lib/datacoop, migrates on start"

    def hardened_pods() -> str:
        pods = [
            (o["kind"], o["spec"]["template"]["spec"])
            for o in default_objects + production_objects
            if o["kind"] in ("Deployment", "Job")
        ]
        for kind, pod in pods:
            assert pod["securityContext"]["runAsNonRoot"] is True, kind
            assert pod["securityContext"]["runAsUser"] == 65532, kind
            assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", kind
            assert pod["automountServiceAccountToken"] is False, kind
            for container in pod["containers"]:
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, kind
                assert context["readOnlyRootFilesystem"] is True, kind
                assert context["capabilities"]["drop"] == ["ALL"], kind
        return f"{len(pods)} pod templates"

    def production_shape() -> str:
        deployment = one(production_objects, "Deployment")
        spec = deployment["spec"]
        container = spec["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert "replicas" not in spec, "the autoscaler owns replicas"
        assert spec["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }, spec["strategy"]
        assert env["DATACOOP_MIGRATE_ON_START"]["value"] == "false"
        assert (
            env["DATACOOP_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "datacoop-database"
        )
        drain = int(env["DATACOOP_SHUTDOWN_DRAIN_SECS"]["value"])
        assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > drain
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        job = one(production_objects, "Job")
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade", annotations
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
        assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
        assert one(production_objects, "PodDisruptionBudget")["spec"] == {
            "selector": spec["selector"],
            "maxUnavailable": 1,
        }
        one(production_objects, "HorizontalPodAutoscaler")
        one(production_objects, "NetworkPolicy")
        service_selector = one(production_objects, "Service")["spec"]["selector"]
        job_labels = job["spec"]["template"]["metadata"]["labels"]
        assert not all(job_labels.get(k) == v for k, v in service_selector.items()), (
            "the Service would select the migration Job's pod"
        )
        return "RollingUpdate, hook Job migrates, HPA, PDB, NetworkPolicy, ServiceMonitor"

    def inline_secrets() -> str:
        secrets = {s["metadata"]["name"]: s for s in by_kind(inline_objects, "Secret")}
        assert set(secrets["datacoop"]["data"]) == {
            "database-url",
            "admin-token",
            "log-signing-key",
        }
        hook = secrets["datacoop-migrate"]
        assert hook["metadata"]["annotations"]["helm.sh/hook-weight"] == "-5"
        job = one(inline_objects, "Job")
        url = job["spec"]["template"]["spec"]["containers"][0]["env"][0]
        assert url["valueFrom"]["secretKeyRef"]["name"] == "datacoop-migrate", url
        deployment = one(inline_objects, "Deployment")
        pod = deployment["spec"]["template"]
        assert {"checksum/secret", "checksum/policies"} <= set(pod["metadata"]["annotations"])
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        assert env["DATACOOP_POLICY_DIR"]["value"] == "/etc/datacoop/policies"
        assert (
            env["DATACOOP_LOG_SIGNING_KEY_FILE"]["value"]
            == "/etc/datacoop/log-signing-key/log-signing-key"
        )
        policies = one(inline_objects, "ConfigMap")
        assert set(policies["data"]) == set(FROM_VALUES["policies"]["files"]), policies[
            "data"
        ].keys()
        assert pod["spec"]["serviceAccountName"] == "datacoop-runtime"
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == "datacoop-runtime"
        assert not by_kind(inline_objects, "ServiceAccount")
        return "release Secret, hook-time Secret for the Job, policy ConfigMap, checksums"

    if default_objects:
        checks.run("SQLite defaults", sqlite_defaults)
    if default_objects and production_objects:
        checks.run("pods run as 65532, read-only, no capabilities", hardened_pods)
    if production_objects:
        checks.run("production values' shape", production_shape)
    if inline_objects:
        checks.run("values given inline land in Secrets and a ConfigMap", inline_secrets)

    schema_error = helm.HelmValuesError
    template_error = helm.HelmRenderError
    sqlite_message = "SQLite serves from one process"
    refusals = [
        (
            'values.schema.json: replicaCount "three"',
            {"replicaCount": "three"},
            schema_error,
            "/replicaCount",
        ),
        ("values.schema.json: replicaCount 0", {"replicaCount": 0}, schema_error, "/replicaCount"),
        ("values.schema.json: logFormat xml", {"logFormat": "xml"}, schema_error, "/logFormat"),
        ("values.schema.json: an unknown top-level key", {"replicas": 3}, schema_error, "replicas"),
        (
            "values.schema.json: image.pullPolicy Sometimes",
            {"image": {"pullPolicy": "Sometimes"}},
            schema_error,
            "/image/pullPolicy",
        ),
        (
            "values.schema.json: service.port 70000",
            {"service": {"port": 70000}},
            schema_error,
            "/service/port",
        ),
        (
            "values.schema.json: shutdownDrainSeconds 301",
            {"shutdownDrainSeconds": 301},
            schema_error,
            "/shutdownDrainSeconds",
        ),
        (
            "values.schema.json: a mysql:// database URL",
            {"database": {"url": "mysql://db/datacoop"}},
            schema_error,
            "/database/url",
        ),
        (
            "values.schema.json: config sets a variable the chart owns",
            {"config": {"DATACOOP_LISTEN": "0.0.0.0:9090"}},
            schema_error,
            "invalid propertyName 'DATACOOP_LISTEN'",
        ),
        (
            "values.schema.json: an unknown policy file",
            {"policies": {"files": {"other.cedar": "x"}}},
            schema_error,
            "invalid propertyName 'other.cedar'",
        ),
        ("chart: SQLite with replicaCount 3", {"replicaCount": 3}, template_error, sqlite_message),
        (
            "chart: SQLite with autoscaling",
            {"autoscaling": {"enabled": True}},
            template_error,
            sqlite_message,
        ),
        (
            "chart: an SQLite file off the volume",
            {"database": {"url": "sqlite:///data/datacoop.db"}},
            template_error,
            "under /var/lib/datacoop/",
        ),
        (
            "chart: an admin token of 31 characters",
            {"adminToken": {"value": "a" * 31}},
            template_error,
            "at least 32 characters",
        ),
        (
            "chart: terminationGracePeriodSeconds not above the drain",
            {"terminationGracePeriodSeconds": 10},
            template_error,
            "must exceed shutdownDrainSeconds",
        ),
        (
            "chart: database.url and database.existingSecret",
            {"database": {"url": "postgres://db/x", "existingSecret": "s"}},
            template_error,
            "not both",
        ),
        (
            "chart: policies without vocabulary.json",
            {"policies": {"files": {"coop.cedar": "permit(principal, action, resource);"}}},
            template_error,
            "vocabulary.json",
        ),
        (
            "chart: autoscaling.minReplicas above maxReplicas",
            {
                "database": {"existingSecret": "db"},
                "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3},
            },
            template_error,
            "must not exceed",
        ),
        (
            "chart: a log signing key that is not one",
            {"logSigningKey": {"value": "hunter2"}},
            template_error,
            "PRIVATE+KEY+",
        ),
    ]
    for name, values, error, message in refusals:
        checks.run(f"refused: {name}", expect_failure(values, error, message))

    print(f"chart: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
