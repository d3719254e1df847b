"""The repository's Dockerfile, checked without Docker: hadolint's rules,
then this project's, on the file as dockerfile-parse reads it. Run by
`.ci/chart`.

    python dockerfile.py HADOLINT
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BUILD = "cargo build --release --locked -p datacoop-broker"
RUNTIME_UID = "65532"


def main() -> int:
    hadolint = sys.argv[1]
    parser = DockerfileParser(path=str(DOCKERFILE))
    instructions = parser.structure
    failures: list[str] = []
    passed = 0

    def check(name: str, problems: list[str]) -> None:
        nonlocal passed
        if problems:
            failures.append(name)
            print(f"FAIL {name}\n     " + "\n     ".join(problems))
        else:
            passed += 1
            print(f"ok   {name}")

    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    check(
        "hadolint",
        [line for line in (result.stdout + result.stderr).splitlines() if line]
        if result.returncode
        else [],
    )

    # Stages: (name, index of its FROM), in order.
    stages = []
    for index, instruction in enumerate(instructions):
        if instruction["instruction"] == "FROM":
            words = instruction["value"].split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append((words[0], name, index))
    stage_names = {name for _, name, _ in stages if name}

    def pinned(image: str) -> str | None:
        if image in stage_names or "@sha256:" in image:
            return None
        last = image.rsplit("/", 1)[-1]
        if ":" not in last:
            return f"{image}: no tag"
        if last.endswith(":latest"):
            return f"{image}: `latest`"
        return None

    check("base images are pinned", [p for image, _, _ in stages if (p := pinned(image))])

    # The binary links glibc, libssl3, libcrypto3 and libgcc_s: distroless
    # `cc` has them all (`base` lacks libgcc_s), and its Debian release must
    # be the build image's, or the binary may need a newer glibc.
    runtime = stages[-1][0]
    debian = {"bookworm": "debian12", "trixie": "debian13"}
    build_release = [
        debian[r]
        for image, _, _ in stages
        for r in debian
        if image.startswith("rust:") and f"-{r}" in image
    ]
    check(
        "the runtime image is distroless cc, on the build image's Debian release",
        []
        if re.match(r"gcr\.io/distroless/cc-(debian\d+):", runtime)
        and build_release
        and all(runtime.startswith(f"gcr.io/distroless/cc-{r}:") for r in build_release)
        else [f"runtime {runtime}, build images on {build_release or 'an unnamed release'}"],
    )

    rust = [image for image, _, _ in stages if image.startswith("rust:")]
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split("."))

    toolchain = [re.match(r"rust:(\d+\.\d+\.\d+)", image) for image in rust]
    check(
        f"the Rust image meets rust-version {workspace['rust-version']}",
        [
            f"{image}: not a rust:X.Y.Z image"
            for image, m in zip(rust, toolchain, strict=True)
            if not m
        ]
        or ["no rust: image"]
        if not toolchain or not all(toolchain)
        else [
            f"{m.group(0)} is older than {workspace['rust-version']}"
            for m in toolchain
            if m and version(m.group(1)) < version(workspace["rust-version"])
        ],
    )

    runs = [i["value"] for i in instructions if i["instruction"] == "RUN"]
    check(
        f"builds with `{BUILD}`",
        [] if any(BUILD in " ".join(run.split()) for run in runs) else [f"no RUN has `{BUILD}`"],
    )

    final = instructions[stages[-1][2] :]
    users = [i["value"].strip() for i in final if i["instruction"] == "USER"]
    user = users[-1] if users else ""
    check(
        f"the final stage runs as uid {RUNTIME_UID}",
        [] if user.split(":")[0] == RUNTIME_UID else [f"USER is `{user or 'unset'}`"],
    )

    check(
        "no HEALTHCHECK (Kubernetes probes)",
        [
            f"line {i['startline'] + 1}: {i['content'].strip()}"
            for i in instructions
            if i["instruction"] == "HEALTHCHECK"
        ],
    )

    entrypoint = [i["value"] for i in final if i["instruction"] == "ENTRYPOINT"]
    cmd = [i["value"] for i in final if i["instruction"] == "CMD"]
    check(
        "ENTRYPOINT datacoop, CMD serve (exec form)",
        []
        if entrypoint == ['["/usr/local/bin/datacoop"]'] and cmd == ['["serve"]']
        else [f"ENTRYPOINT {entrypoint}, CMD {cmd}"],
    )

    env = parser.envs  # the final stage's environment
    expected = {
        "DATACOOP_DATABASE_URL": "sqlite:///var/lib/datacoop/datacoop.db",
        "DATACOOP_LISTEN": "0.0.0.0:8080",
        "DATACOOP_LOG_FORMAT": "json",
    }
    volumes = [i["value"] for i in final if i["instruction"] == "VOLUME"]
    owned = [
        i["value"]
        for i in final
        if i["instruction"] == "COPY"
        and f"--chown={RUNTIME_UID}:{RUNTIME_UID}" in i["value"].split()
        and i["value"].split()[-1].rstrip("/") == "/var/lib/datacoop"
    ]
    check(
        f"SQLite on the /var/lib/datacoop volume (owned by {RUNTIME_UID}), listening on 0.0.0.0:8080",
        [f"{k}={env.get(k)!r}, not {v!r}" for k, v in expected.items() if env.get(k) != v]
        + ([] if volumes == ["/var/lib/datacoop"] else [f"VOLUME {volumes}"])
        + ([] if owned else [f"no COPY --chown={RUNTIME_UID}:{RUNTIME_UID} … /var/lib/datacoop"]),
    )

    print(f"dockerfile: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
