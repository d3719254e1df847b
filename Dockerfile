# syntax=docker/dockerfile:1
#
# The `datacoop` binary in a distroless image: glibc, libgcc, libssl3 and
# CA certificates, no shell, uid 65532. Build from the repository root:
#
#   docker build -t datacoop:0.1.0 .
#
# The SQLite default keeps its file (and the file's `.lock`) under the
# volume /var/lib/datacoop; the root filesystem can be mounted read-only.
# `.ci/chart` checks this file (hadolint and the rules in
# `.ci/chart-check/dockerfile.py`), as Docker cannot run in CI.

# The toolchain CI uses (rustc 1.95.0); the workspace needs 1.94 or later.
FROM rust:1.95.0-slim-bookworm AS build

# OpenDP draws its noise from OpenSSL, linked from the system
# (`.cargo/config.toml` sets OPENSSL_NO_VENDOR): pkg-config finds
# libssl-dev. Their versions follow the pinned image's Debian release
# (bookworm), so they are not pinned again here.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# The release build, with exactly Cargo.lock's versions. The caches keep
# the registry and the target folder between builds; the target folder is
# a cache mount, so the binary is copied out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p datacoop-broker \
 && install -D -m 0755 target/release/datacoop /out/datacoop

# The data folder, owned by the runtime user, so a fresh volume mounted
# there (Docker copies the image's folder into it) is writable.
RUN install -d -o 65532 -g 65532 -m 0750 /out/var-lib-datacoop

# Debian 12 (bookworm), like the build stage, so the binary finds the glibc
# and OpenSSL 3 it was linked against; `cc` rather than `base` because Rust
# binaries also link libgcc_s (for unwinding).
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="datacoop" \
      org.opencontainers.image.description="A consent broker for data cooperatives" \
      org.opencontainers.image.source="https://github.com/datacoop/datacoop" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /out/datacoop /usr/local/bin/datacoop
COPY --from=build --chown=65532:65532 /out/var-lib-datacoop /var/lib/datacoop

ENV DATACOOP_DATABASE_URL=sqlite:///var/lib/datacoop/datacoop.db \
    DATACOOP_LISTEN=0.0.0.0:8080 \
    DATACOOP_LOG_FORMAT=json

USER 65532:65532
VOLUME /var/lib/datacoop
EXPOSE 8080

# No HEALTHCHECK: the image has no shell or client to run one, and
# Kubernetes probes GET /healthz and GET /readyz itself.
ENTRYPOINT ["/usr/local/bin/datacoop"]
CMD ["serve"]
