# syntax=docker/dockerfile:1
# mcp-lambda as an AWS Lambda container image, or as a plain container (`serve` mode).
# NOT BUILT in this repository's CI (there is no Docker there): tests/e2e/layer.rs checks its
# structure offline. See docs/PACKAGING.md.
#
#   docker build -t mcp-lambda .                                # provided.al2023 (native servers)
#   docker build --target python -t mcp-lambda:python \
#     --build-arg PIP_PACKAGES=mcp-server-time==2026.10.19 .   # python3.13 + a PyPI server
#   docker build --target node -t mcp-lambda:node \
#     --build-arg NPM_PACKAGES=@modelcontextprotocol/server-memory@2026.8.31 .   # nodejs22 + an npm server
#   docker buildx build --platform linux/arm64 ...              # Graviton (arm64) functions
#
# Every final image runs /opt/bin/mcp-lambda as its ENTRYPOINT: on Lambda (AWS_LAMBDA_RUNTIME_API
# set) it polls the Runtime API; elsewhere it serves HTTP, e.g.
#   docker run -p 8080:8080 -e MCP_LAMBDA_LISTEN=0.0.0.0:8080 mcp-lambda
# The server to run comes from MCP_LAMBDA_COMMAND (or MCP_LAMBDA_CONFIG), as everywhere.

ARG RUST_VERSION=1.95.0

# ---- build: Amazon Linux 2023, the glibc of the Lambda base images below ----
FROM public.ecr.aws/amazonlinux/amazonlinux:2023 AS build
ARG RUST_VERSION
# Extra `cargo build` arguments, e.g. --build-arg CARGO_ARGS=--no-default-features (no DynamoDB).
ARG CARGO_ARGS=
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The distribution's current gcc: the C code of `ring` needs a compiler, not a given version.
# hadolint ignore=DL3041
RUN dnf install -y gcc curl-minimal && dnf clean all
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
      | sh -s -- -y --profile minimal --default-toolchain "${RUST_VERSION}"
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY examples examples
COPY tests tests
RUN --mount=type=cache,target=/root/.cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mcp-lambda ${CARGO_ARGS} \
    && cp target/release/mcp-lambda /usr/local/bin/mcp-lambda

# ---- python: the python3.13 Lambda base image, MCP_LAMBDA_COMMAND="python3 -m ..." ----
FROM public.ecr.aws/lambda/python:3.13 AS python
# PyPI packages to install into /var/task (the server), space-separated.
ARG PIP_PACKAGES=
COPY --from=build /usr/local/bin/mcp-lambda /opt/bin/mcp-lambda
ENV PATH=/var/task/bin:$PATH \
    PYTHONPATH=/var/task
WORKDIR /var/task
# Versions are the caller's to pin in PIP_PACKAGES (mcp-server-time==2026.10.19). The bytecode
# is compiled here, by the image's own python3.13, with hashes instead of source mtimes: Lambda's
# task root is read-only, so a server without it would compile every module at every spawn.
# hadolint ignore=DL3013
RUN if [ -n "${PIP_PACKAGES}" ]; then pip install --no-cache-dir --no-compile --target /var/task ${PIP_PACKAGES} \
    && python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash /var/task; fi
ENTRYPOINT ["/opt/bin/mcp-lambda"]

# ---- node: the nodejs22.x Lambda base image, MCP_LAMBDA_COMMAND="node ..." ----
FROM public.ecr.aws/lambda/nodejs:22 AS node
# npm packages to install into /var/task (the server), space-separated.
ARG NPM_PACKAGES=
COPY --from=build /usr/local/bin/mcp-lambda /opt/bin/mcp-lambda
ENV PATH=/var/task/node_modules/.bin:$PATH
WORKDIR /var/task
# Versions are the caller's to pin in NPM_PACKAGES (@modelcontextprotocol/server-memory@2026.8.31).
# hadolint ignore=DL3016
RUN if [ -n "${NPM_PACKAGES}" ]; then npm install --omit=dev --no-fund --no-audit ${NPM_PACKAGES}; fi
ENTRYPOINT ["/opt/bin/mcp-lambda"]

# ---- provided (default): provided.al2023, for native servers and the bundled example ----
FROM public.ecr.aws/lambda/provided:al2023 AS provided
COPY --from=build /usr/local/bin/mcp-lambda /opt/bin/mcp-lambda
WORKDIR /var/task
ENTRYPOINT ["/opt/bin/mcp-lambda"]
